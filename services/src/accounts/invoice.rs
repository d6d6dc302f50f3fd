//! The invoice of an order, as a small plain-text document.
//!
//! Generated on each request from the order's own rows rather than stored: it can then never
//! disagree with the order, and the same order always renders the same bytes.

use std::fmt::Write as _;

use tessera_contract::account::Order;

/// The file name a browser saves the invoice of `order` as.
pub(super) fn file_name(order: i64) -> String {
    format!("invoice-{order}.txt")
}

/// The invoice of `order`, billed to `name` (`login`).
pub(super) fn render(order: &Order, login: &str, name: &str) -> String {
    let money = |cents: i64| format!("{}.{:02} {}", cents / 100, cents % 100, order.currency);
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(text, "TESSERA — INVOICE");
    let _ = writeln!(text);
    let _ = writeln!(text, "Invoice   INV-{:06}", order.id);
    let _ = writeln!(text, "Order     {}", order.id);
    let _ = writeln!(text, "Date      {}", order.placed_at);
    let _ = writeln!(text, "Billed to {name} ({login})");
    let _ = writeln!(text);
    let _ = writeln!(
        text,
        "{:>4}  {:<44} {:>12} {:>12}",
        "Qty", "Item", "Unit price", "Amount"
    );
    for line in &order.lines {
        let _ = writeln!(
            text,
            "{:>4}  {:<44} {:>12} {:>12}",
            line.quantity,
            format!("{} (#{})", line.name, line.product_id),
            money(line.price_cents),
            money(i64::from(line.quantity) * line.price_cents)
        );
    }
    let _ = writeln!(text);
    let _ = writeln!(
        text,
        "{:>76}",
        format!("Total {}", money(order.total_cents))
    );
    let _ = writeln!(text, "{:>76}", "Prices include VAT.");
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_contract::account::OrderLine;

    #[test]
    fn an_invoice_lists_the_lines_and_the_total() {
        let order = Order {
            id: 42,
            placed_at: "2026-03-14".into(),
            total_cents: 4_479,
            currency: "EUR".into(),
            lines: vec![
                OrderLine {
                    product_id: 1,
                    name: "Classic Oak Desk Lamp".into(),
                    quantity: 2,
                    price_cents: 1_990,
                },
                OrderLine {
                    product_id: 7,
                    name: "Mug".into(),
                    quantity: 1,
                    price_cents: 499,
                },
            ],
        };
        let text = render(&order, "alice", "Alice Archer");
        assert!(text.contains("Order     42"), "{text}");
        assert!(text.contains("INV-000042"), "{text}");
        assert!(text.contains("Alice Archer (alice)"), "{text}");
        assert!(text.contains("Classic Oak Desk Lamp (#1)"), "{text}");
        assert!(text.contains("39.80 EUR"), "{text}");
        assert!(text.contains("4.99 EUR"), "{text}");
        assert!(text.contains("Total 44.79 EUR"), "{text}");
        assert_eq!(file_name(42), "invoice-42.txt");
    }
}
