//! The deterministic demo data set every service seeds its own store from.
//!
//! All services derive from the same fixed seed, so the catalog's product 42 is the product the
//! inventory prices and the reviews describe, yet each service owns and writes only its store.

/// The seed of the demo data set; changing it changes every generated name.
pub const SEED: u64 = 0x7e55_e7a0;

/// How much data to generate. Tests use a small scale; the demo a realistic one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    pub products: u32,
}

impl Scale {
    /// The demo's size: thousands of products in two dozen categories.
    pub const DEMO: Scale = Scale { products: 5_000 };
    /// Small enough for per-test stores that seed in milliseconds.
    pub const SMALL: Scale = Scale { products: 240 };
}

/// One category: (slug, display name, nouns of things sold in it).
pub const CATEGORIES: [(&str, &str, [&str; 6]); 24] = [
    (
        "lighting",
        "Lighting",
        [
            "Desk Lamp",
            "Floor Lamp",
            "Pendant Light",
            "Wall Sconce",
            "Lantern",
            "Reading Light",
        ],
    ),
    (
        "kitchen",
        "Kitchen",
        [
            "Chef's Knife",
            "Cutting Board",
            "Saucepan",
            "Skillet",
            "Colander",
            "Spice Rack",
        ],
    ),
    (
        "coffee",
        "Coffee & Tea",
        [
            "Pour-Over Kettle",
            "Coffee Grinder",
            "French Press",
            "Teapot",
            "Mug",
            "Espresso Cup",
        ],
    ),
    (
        "furniture",
        "Furniture",
        [
            "Armchair",
            "Side Table",
            "Bookshelf",
            "Bench",
            "Stool",
            "Coffee Table",
        ],
    ),
    (
        "bedding",
        "Bedding",
        [
            "Duvet Cover",
            "Pillowcase Set",
            "Throw Blanket",
            "Quilt",
            "Fitted Sheet",
            "Bed Runner",
        ],
    ),
    (
        "bath",
        "Bath",
        [
            "Bath Towel",
            "Bath Mat",
            "Soap Dish",
            "Shower Caddy",
            "Toothbrush Holder",
            "Robe",
        ],
    ),
    (
        "garden",
        "Garden",
        [
            "Planter",
            "Watering Can",
            "Pruning Shears",
            "Trowel",
            "Seed Tray",
            "Garden Kneeler",
        ],
    ),
    (
        "outdoor",
        "Outdoor",
        [
            "Camping Chair",
            "Picnic Blanket",
            "Cooler Bag",
            "Hammock",
            "Fire Pit",
            "Tarp",
        ],
    ),
    (
        "audio",
        "Audio",
        [
            "Headphones",
            "Bookshelf Speaker",
            "Turntable",
            "Earbuds",
            "Radio",
            "Soundbar",
        ],
    ),
    (
        "office",
        "Office",
        [
            "Notebook",
            "Fountain Pen",
            "Desk Organizer",
            "Monitor Stand",
            "Letter Tray",
            "Stapler",
        ],
    ),
    (
        "bags",
        "Bags",
        [
            "Backpack",
            "Tote Bag",
            "Duffel Bag",
            "Messenger Bag",
            "Wallet",
            "Pouch",
        ],
    ),
    (
        "apparel",
        "Apparel",
        [
            "Wool Sweater",
            "Rain Jacket",
            "Linen Shirt",
            "Chino Trousers",
            "Beanie",
            "Scarf",
        ],
    ),
    (
        "footwear",
        "Footwear",
        [
            "Sneakers",
            "Hiking Boots",
            "Slippers",
            "Sandals",
            "Loafers",
            "Chelsea Boots",
        ],
    ),
    (
        "fitness",
        "Fitness",
        [
            "Yoga Mat",
            "Kettlebell",
            "Jump Rope",
            "Foam Roller",
            "Resistance Band",
            "Water Bottle",
        ],
    ),
    (
        "cycling",
        "Cycling",
        [
            "Bike Light",
            "Saddle Bag",
            "Bike Lock",
            "Cycling Gloves",
            "Bell",
            "Pump",
        ],
    ),
    (
        "toys",
        "Toys",
        [
            "Building Blocks",
            "Puzzle",
            "Wooden Train",
            "Kite",
            "Spinning Top",
            "Plush Bear",
        ],
    ),
    (
        "games",
        "Board Games",
        [
            "Chess Set",
            "Card Game",
            "Dice Set",
            "Strategy Game",
            "Backgammon",
            "Go Board",
        ],
    ),
    (
        "books",
        "Books",
        [
            "Cookbook",
            "Field Guide",
            "Sketchbook",
            "Atlas",
            "Journal",
            "Photo Book",
        ],
    ),
    (
        "stationery",
        "Stationery",
        [
            "Greeting Cards",
            "Washi Tape",
            "Envelope Set",
            "Pencil Case",
            "Stamp Kit",
            "Planner",
        ],
    ),
    (
        "pets",
        "Pets",
        [
            "Dog Bed",
            "Cat Tree",
            "Leash",
            "Food Bowl",
            "Pet Brush",
            "Chew Toy",
        ],
    ),
    (
        "tools",
        "Tools",
        [
            "Screwdriver Set",
            "Hammer",
            "Tape Measure",
            "Utility Knife",
            "Level",
            "Workbench",
        ],
    ),
    (
        "storage",
        "Storage",
        [
            "Storage Basket",
            "Shoe Rack",
            "Coat Hook",
            "Drawer Divider",
            "Crate",
            "Hanging Shelf",
        ],
    ),
    (
        "decor",
        "Decor",
        [
            "Vase",
            "Picture Frame",
            "Wall Clock",
            "Candle Holder",
            "Mirror",
            "Rug",
        ],
    ),
    (
        "tableware",
        "Tableware",
        [
            "Dinner Plate",
            "Serving Bowl",
            "Glass Tumbler",
            "Cutlery Set",
            "Carafe",
            "Napkin Set",
        ],
    ),
];

const ADJECTIVES: [&str; 24] = [
    "Classic",
    "Compact",
    "Everyday",
    "Handmade",
    "Heritage",
    "Modern",
    "Nordic",
    "Rustic",
    "Minimal",
    "Sturdy",
    "Featherweight",
    "Deluxe",
    "Studio",
    "Coastal",
    "Urban",
    "Alpine",
    "Vintage",
    "Essential",
    "Signature",
    "Folding",
    "Midnight",
    "Sunlit",
    "Harbor",
    "Meadow",
];

const MATERIALS: [&str; 16] = [
    "Oak",
    "Walnut",
    "Bamboo",
    "Linen",
    "Wool",
    "Ceramic",
    "Copper",
    "Brass",
    "Steel",
    "Cotton",
    "Leather",
    "Stoneware",
    "Glass",
    "Canvas",
    "Cork",
    "Ash",
];

const COLORS: [&str; 12] = [
    "charcoal",
    "sand",
    "olive",
    "rust",
    "navy",
    "ivory",
    "sage",
    "terracotta",
    "slate",
    "mustard",
    "forest",
    "blush",
];

/// One generated product, before any service stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedProduct {
    pub id: i64,
    /// 1-based index into [`CATEGORIES`].
    pub category_id: i64,
    pub name: String,
    pub description: String,
    pub material: &'static str,
    pub color: &'static str,
    pub weight_g: u32,
}

/// The products of the demo data set, ids `1..=scale.products`, always the same for one scale.
pub fn products(scale: Scale) -> Vec<SeedProduct> {
    let mut rng = fastrand::Rng::with_seed(SEED);
    (1..=i64::from(scale.products))
        .map(|id| {
            let category_index = rng.usize(..CATEGORIES.len());
            let (_, category_name, nouns) = CATEGORIES[category_index];
            let noun = nouns[rng.usize(..nouns.len())];
            let adjective = ADJECTIVES[rng.usize(..ADJECTIVES.len())];
            let material = MATERIALS[rng.usize(..MATERIALS.len())];
            let color = COLORS[rng.usize(..COLORS.len())];
            let name = format!("{adjective} {material} {noun}");
            let description = format!(
                "A {} {} {} from our {} range, made of {} in a {} finish. Designed to last and \
                 easy to care for.",
                adjective.to_lowercase(),
                material.to_lowercase(),
                noun.to_lowercase(),
                category_name.to_lowercase(),
                material.to_lowercase(),
                color,
            );
            SeedProduct {
                id,
                category_id: category_index as i64 + 1,
                name,
                description,
                material,
                color,
                weight_g: rng.u32(80..=9_000),
            }
        })
        .collect()
}

/// What the inventory seeds for one product: its price (the accounts service's orders snapshot
/// it) and its stock level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedStock {
    pub product_id: i64,
    pub price_cents: i64,
    pub stock: i64,
}

/// At or below this many units a product is low on stock.
pub const LOW_STOCK: i64 = 5;

/// The price and stock of every product of [`products`], in the same order.
pub fn stock(scale: Scale) -> Vec<SeedStock> {
    let mut rng = fastrand::Rng::with_seed(SEED ^ 0x1_0000);
    products(scale)
        .into_iter()
        .map(|product| {
            // Prices end in .99 or .49 like a shop's; heavier things cost more.
            let base = 4 + i64::from(product.weight_g) / 60 + rng.i64(0..40);
            let price_cents = base * 100 + if rng.bool() { 99 } else { 49 };
            // One in ten is sold out, one in ten is nearly gone.
            let stock = match rng.u8(0..10) {
                0 => 0,
                1 => rng.i64(1..=LOW_STOCK),
                _ => rng.i64(6..=400),
            };
            SeedStock {
                product_id: product.id,
                price_cents,
                stock,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_scale_always_gives_the_same_products() {
        let a = products(Scale::SMALL);
        let b = products(Scale::SMALL);
        assert_eq!(a, b);
        assert_eq!(a.len(), 240);
        assert_eq!(a[0].id, 1);
        assert!(a.iter().all(|p| (1..=24).contains(&p.category_id)));
    }

    #[test]
    fn a_small_scale_is_a_prefix_of_the_demo() {
        let small = products(Scale::SMALL);
        let demo = products(Scale::DEMO);
        assert_eq!(small[..], demo[..small.len()]);
    }
}
