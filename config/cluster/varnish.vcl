vcl 4.1;
# Varnish as the CDN-style edge cache in front of Tessera (issue 18): it keeps the views the
# BFF marks `public, s-maxage=…` (made only of fresh shared parts) for as long as it says, and
# drops them when the BFF purges one of their tags (varnish-modules' xkey). Views that hold a
# shopper's part are `private` and pass through; so does everything with a cookie (Varnish's
# built-in rules). Start it with `varnishd -a :6081 -f config/cluster/varnish.vcl`, and set
# the BFF's `cache.edge_purge_url = "http://<varnish>:6081/"`.

import xkey;

# The balancer (or a single BFF); bff/tests/edge.rs rewrites the port.
backend default {
    .host = "127.0.0.1";
    .port = "8080";
}

# Who may purge: the BFF replicas.
acl purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(403, "Forbidden"));
        }
        if (!req.http.xkey-purge) {
            return (synth(400, "xkey-purge header required"));
        }
        set req.http.x-purged = xkey.purge(req.http.xkey-purge);
        return (synth(200, "Purged " + req.http.x-purged));
    }
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.x-cache = "HIT";
    } else {
        set resp.http.x-cache = "MISS";
    }
    # The tags are for this cache only.
    unset resp.http.xkey;
    unset resp.http.surrogate-key;
}
