//! The accounts data set: shoppers with argon2id password hashes, and two years of their orders
//! of the catalog's products at the inventory's prices, all derived from the shared seed and a
//! fixed reference date, so every run seeds the same rows.
//!
//! Two shoppers are known to the demo and the tests: user 1, `alice` ("Alice Archer"), whose
//! orders include product 1 and product 2 (in two orders on known dates), and user 2, `bob`
//! ("Bob Baker"), who has orders but never bought either. Both sign in with
//! [`DEMO_PASSWORD`]; everyone else's password is [`password`] of their id.

use std::sync::{Arc, Mutex};

use argon2::password_hash::PasswordHasher as _;
use argon2::{Argon2, Params, Version};
use rusqlite::{Connection, params};

use crate::seed::{self, Scale};

/// The password of `alice` and `bob`.
pub const DEMO_PASSWORD: &str = "tessera";
/// The day the data set is "today": orders fall in the two years before it.
pub const REFERENCE_DATE: &str = "2026-12-01";
/// When alice bought product 1, and product 2.
pub const ALICE_BOUGHT_1: &str = "2026-03-14";
pub const ALICE_BOUGHT_2: &str = "2025-10-03";
/// Every order is in this currency, like the inventory's prices.
pub const CURRENCY: &str = "EUR";

/// Argon2id at 8 MiB and one pass: modest, so that seeding hundreds of shoppers stays quick;
/// verification reads the parameters from each hash, so they can be raised later without
/// reseeding.
fn argon2() -> Argon2<'static> {
    const PARAMS: Params = match Params::new(8 * 1024, 1, 1, None) {
        Ok(params) => params,
        Err(_) => panic!("argon2 parameters within bounds"),
    };
    Argon2::new(argon2::Algorithm::Argon2id, Version::V0x13, PARAMS)
}

/// The PHC string (`$argon2id$v=19$m=8192,t=1,p=1$…`) of `password` with `salt` (16 bytes).
pub fn hash_password(password: &str, salt: &[u8; 16]) -> String {
    argon2()
        .hash_password_with_salt(password.as_bytes(), salt)
        .expect("a 16-byte salt and bounded parameters always hash")
        .to_string()
}

/// How many shoppers a scale has: 50 for tests, 300 for the demo.
pub fn shopper_count(scale: Scale) -> i64 {
    i64::from(scale.products / 16).clamp(50, 300)
}

/// One generated shopper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedShopper {
    pub id: i64,
    /// The login name.
    pub login: String,
    /// The name to show.
    pub name: String,
}

const FIRST_NAMES: [&str; 24] = [
    "Amara", "Bruno", "Carmen", "Dario", "Elif", "Felix", "Greta", "Hugo", "Ines", "Jonas",
    "Kaito", "Lena", "Mateo", "Nadia", "Oskar", "Paula", "Quentin", "Rosa", "Samir", "Tove",
    "Umar", "Vera", "Wim", "Yara",
];
const LAST_NAMES: [&str; 20] = [
    "Andersen", "Brandt", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Horvat", "Ivanova",
    "Jansen", "Kowalski", "Larsen", "Moreau", "Novak", "Okafor", "Petrov", "Rossi", "Silva",
    "Tanaka", "Weber",
];
const WORDS: [&str; 16] = [
    "amber", "birch", "cobalt", "dune", "ember", "fjord", "granite", "harbor", "iris", "juniper",
    "kelp", "lagoon", "maple", "nectar", "opal", "pebble",
];

/// The shoppers of a scale, ids `1..=shopper_count(scale)`.
pub fn shoppers(scale: Scale) -> Vec<SeedShopper> {
    (1..=shopper_count(scale))
        .map(|id| {
            let (login, name) = match id {
                1 => ("alice".to_owned(), "Alice Archer".to_owned()),
                2 => ("bob".to_owned(), "Bob Baker".to_owned()),
                _ => {
                    let mut rng = per_shopper(id, 0x1);
                    let first = FIRST_NAMES[rng.usize(..FIRST_NAMES.len())];
                    let last = LAST_NAMES[rng.usize(..LAST_NAMES.len())];
                    (format!("shopper{id:03}"), format!("{first} {last}"))
                }
            };
            SeedShopper { id, login, name }
        })
        .collect()
}

/// The password of shopper `id`: [`DEMO_PASSWORD`] for alice and bob, two words and the id
/// (`maple-opal-017`) for everyone else. Known to anyone with this code: demo data only.
pub fn password(id: i64) -> String {
    if id <= 2 {
        return DEMO_PASSWORD.to_owned();
    }
    let mut rng = per_shopper(id, 0x2);
    format!(
        "{}-{}-{id:03}",
        WORDS[rng.usize(..WORDS.len())],
        WORDS[rng.usize(..WORDS.len())]
    )
}

/// A generator of one shopper's own values, independent of the scale.
fn per_shopper(id: i64, stream: u64) -> fastrand::Rng {
    fastrand::Rng::with_seed(seed::SEED ^ (0x5_0000 + stream) ^ (id as u64).rotate_left(24))
}

/// One generated order, ids in date order (a shop numbers its orders as they come).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedOrder {
    pub id: i64,
    pub user_id: i64,
    /// `YYYY-MM-DD`.
    pub placed_at: String,
    pub lines: Vec<SeedLine>,
}

/// One line of an order: the product's name and price as they were when it was bought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedLine {
    pub product_id: i64,
    pub name: String,
    pub quantity: u32,
    pub price_cents: i64,
}

impl SeedOrder {
    pub fn total_cents(&self) -> i64 {
        self.lines
            .iter()
            .map(|l| i64::from(l.quantity) * l.price_cents)
            .sum()
    }
}

/// The orders of every shopper of a scale: 0 to 12 each (alice 8, bob 5), 1 to 4 lines each,
/// placed on one of the 730 days before [`REFERENCE_DATE`].
pub fn orders(scale: Scale) -> Vec<SeedOrder> {
    let products = seed::products(scale);
    let stock = seed::stock(scale);
    let line = |product_id: i64, quantity: u32| {
        let i = (product_id - 1) as usize;
        SeedLine {
            product_id,
            name: products[i].name.clone(),
            quantity,
            price_cents: stock[i].price_cents,
        }
    };
    let today = days_from_date(REFERENCE_DATE);
    let last_product = products.len() as i64;
    let mut rng = fastrand::Rng::with_seed(seed::SEED ^ 0x5_0000);
    // (day, user, lines) in the order generated; numbered by date below.
    let mut drafts: Vec<(i64, i64, Vec<SeedLine>)> = Vec::new();
    for user_id in 1..=shopper_count(scale) {
        // Alice's products 1 and 2 are bought only in her two known orders, and never by bob,
        // so "bought it before" has one known answer for each.
        let never = if user_id <= 2 { &[1, 2][..] } else { &[] };
        if user_id == 1 {
            let mut first = vec![line(1, 1)];
            first.extend(pick_lines(&mut rng, last_product, never, 1).map(|(p, q)| line(p, q)));
            drafts.push((days_from_date(ALICE_BOUGHT_1), 1, first));
            let mut second = vec![line(2, 2)];
            second.extend(pick_lines(&mut rng, last_product, never, 2).map(|(p, q)| line(p, q)));
            drafts.push((days_from_date(ALICE_BOUGHT_2), 1, second));
        }
        let count = match user_id {
            1 => 6,
            2 => 5,
            _ => rng.u32(0..=12),
        };
        for _ in 0..count {
            let day = today - rng.i64(1..=730);
            let n = rng.usize(1..=4);
            let lines = pick_lines(&mut rng, last_product, never, n)
                .map(|(p, q)| line(p, q))
                .collect();
            drafts.push((day, user_id, lines));
        }
    }
    // Stable: orders of one day keep the order they were generated in.
    drafts.sort_by_key(|(day, _, _)| *day);
    drafts
        .into_iter()
        .enumerate()
        .map(|(i, (day, user_id, lines))| SeedOrder {
            id: i as i64 + 1,
            user_id,
            placed_at: date_from_days(day),
            lines,
        })
        .collect()
}

/// `n` lines of distinct products from `1..=last`, none of `never`, mostly one of each.
fn pick_lines(
    rng: &mut fastrand::Rng,
    last: i64,
    never: &[i64],
    n: usize,
) -> impl Iterator<Item = (i64, u32)> {
    let mut chosen: Vec<i64> = Vec::with_capacity(n);
    let available = (last as usize).saturating_sub(never.len());
    while chosen.len() < n.min(available) {
        let id = rng.i64(1..=last);
        if !never.contains(&id) && !chosen.contains(&id) {
            chosen.push(id);
        }
    }
    let quantities: Vec<u32> = chosen
        .iter()
        .map(|_| [1, 1, 1, 2, 2, 3][rng.usize(..6)])
        .collect();
    chosen.into_iter().zip(quantities)
}

/// Creates the shoppers (with their password hashes) and their orders.
pub fn populate(conn: &mut Connection, scale: Scale) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut insert_user = tx.prepare(
            "INSERT INTO users (id, login, name, password_hash) VALUES (?1, ?2, ?3, ?4)",
        )?;
        let hashes = password_hashes(scale);
        for (shopper, hash) in shoppers(scale).into_iter().zip(hashes.iter()) {
            insert_user.execute(params![shopper.id, shopper.login, shopper.name, hash])?;
        }
        let mut insert_order = tx.prepare(
            "INSERT INTO orders (id, user_id, placed_at, currency, total_cents)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut insert_line = tx.prepare(
            "INSERT INTO order_lines (order_id, line, product_id, name, quantity, price_cents)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for order in orders(scale) {
            insert_order.execute(params![
                order.id,
                order.user_id,
                order.placed_at,
                CURRENCY,
                order.total_cents()
            ])?;
            for (i, l) in order.lines.iter().enumerate() {
                insert_line.execute(params![
                    order.id,
                    i as i64 + 1,
                    l.product_id,
                    l.name,
                    l.quantity,
                    l.price_cents
                ])?;
            }
        }
    }
    tx.commit()
}

/// The password hash of every shopper of `scale`, in id order.
///
/// Hashing is nearly all of the seed's time, and its result never changes (the salts come from
/// the seed too, so two runs store the very same hashes): it is spread over the machine's cores,
/// and done once per process and scale, so a process that seeds many stores (a test binary)
/// pays for it once.
fn password_hashes(scale: Scale) -> Arc<Vec<String>> {
    static DONE: Mutex<Vec<(Scale, Arc<Vec<String>>)>> = Mutex::new(Vec::new());
    // Held while hashing: a second store of the same scale waits rather than hashing again.
    let mut done = DONE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, hashes)) = done.iter().find(|(s, _)| *s == scale) {
        return Arc::clone(hashes);
    }
    let ids: Vec<i64> = (1..=shopper_count(scale)).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = ids.len().div_ceil(threads);
    let hashes: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = ids
            .chunks(chunk)
            .map(|ids| {
                scope.spawn(move || ids.iter().map(|&id| shopper_hash(id)).collect::<Vec<_>>())
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("hashing a password does not panic"))
            .collect()
    });
    let hashes = Arc::new(hashes);
    done.push((scale, Arc::clone(&hashes)));
    hashes
}

fn shopper_hash(id: i64) -> String {
    let mut rng = per_shopper(id, 0x3);
    let salt: [u8; 16] = std::array::from_fn(|_| rng.u8(..));
    hash_password(&password(id), &salt)
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date of this module's own constants.
fn days_from_date(date: &str) -> i64 {
    let mut parts = date
        .split('-')
        .map(|p| p.parse::<i64>().expect("a constant date"));
    let (y, m, d) = (
        parts.next().expect("a year"),
        parts.next().expect("a month"),
        parts.next().expect("a day"),
    );
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of a count of days since 1970-01-01 (Hinnant's civil_from_days).
fn date_from_days(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(days_from_date("1970-01-01"), 0);
        assert_eq!(days_from_date("2000-03-01"), 11_017);
        for date in [REFERENCE_DATE, "2024-02-29", "2025-01-01", "2025-12-31"] {
            assert_eq!(date_from_days(days_from_date(date)), date);
        }
        assert_eq!(
            date_from_days(days_from_date("2024-02-28") + 1),
            "2024-02-29"
        );
    }

    #[test]
    fn the_data_set_is_deterministic_and_keeps_its_promises() {
        let scale = Scale::SMALL;
        assert_eq!(orders(scale), orders(scale));
        assert_eq!(shoppers(scale), shoppers(scale));
        assert_eq!(shopper_count(Scale::SMALL), 50);
        assert_eq!(shopper_count(Scale::DEMO), 300);

        let people = shoppers(scale);
        assert_eq!(
            (people[0].login.as_str(), people[0].name.as_str()),
            ("alice", "Alice Archer")
        );
        assert_eq!(
            (people[1].login.as_str(), people[1].name.as_str()),
            ("bob", "Bob Baker")
        );
        assert_eq!(people[2].login, "shopper003");
        assert_eq!(password(1), "tessera");
        assert_ne!(password(3), password(4));

        let all = orders(scale);
        let ids: Vec<i64> = all.iter().map(|o| o.id).collect();
        assert_eq!(ids, (1..=all.len() as i64).collect::<Vec<_>>());
        assert!(
            all.windows(2).all(|w| w[0].placed_at <= w[1].placed_at),
            "numbered in date order"
        );
        let bought = |user: i64, product: i64| -> Vec<&str> {
            all.iter()
                .filter(|o| o.user_id == user && o.lines.iter().any(|l| l.product_id == product))
                .map(|o| o.placed_at.as_str())
                .collect()
        };
        assert_eq!(bought(1, 1), [ALICE_BOUGHT_1]);
        assert_eq!(bought(1, 2), [ALICE_BOUGHT_2]);
        assert!(bought(2, 1).is_empty() && bought(2, 2).is_empty());
        assert_eq!(all.iter().filter(|o| o.user_id == 1).count(), 8);
        assert_eq!(all.iter().filter(|o| o.user_id == 2).count(), 5);
        for order in &all {
            assert!((1..=4).contains(&order.lines.len()), "{order:?}");
            assert!(order.placed_at.as_str() < REFERENCE_DATE);
            assert!(order.placed_at.as_str() >= "2024-12-01");
        }
    }

    #[test]
    fn hashes_are_argon2id_phc_strings_that_verify() {
        use argon2::password_hash::PasswordVerifier as _;
        let hash = hash_password("tessera", &[7; 16]);
        assert!(hash.starts_with("$argon2id$v=19$m=8192,t=1,p=1$"), "{hash}");
        assert_eq!(hash, hash_password("tessera", &[7; 16]));
        let argon2 = Argon2::default();
        assert!(argon2.verify_password(b"tessera", hash.as_str()).is_ok());
        assert!(argon2.verify_password(b"tesserA", hash.as_str()).is_err());
    }
}
