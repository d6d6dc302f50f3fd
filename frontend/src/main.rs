//! The storefront's entry point (wasm32, client-side rendered): see the library's docs.

fn main() {
    tessera_frontend::start();
}
