//! A valid 50,000-word dictionary for load tests and benchmarks: two classes
//! of two-character words over a 300-character alphabet — 30,000 in class a
//! (second character among the first 100), 20,000 in class b (first character
//! among the first 100, second among the other 200) — and one style, giving
//! 600,000,000 nicknames.

pub fn fifty_thousand_words() -> String {
    let alphabet: Vec<char> = nickpool_server::generator::Tgh::get()
        .chars_up_to_level(1)
        .take(300)
        .collect();
    let mut text = String::from("[class a]\n");
    for (i, &x) in alphabet.iter().enumerate() {
        for &y in &alphabet[..100] {
            text.push_str(&format!("{x}{y} t{}\n", i % 7));
        }
    }
    text.push_str("[class b]\n");
    for &x in &alphabet[..100] {
        for &y in &alphabet[100..] {
            text.push_str(&format!("{x}{y} t\n"));
        }
    }
    text.push_str("[styles]\nab 1 {a}的{b}\n[block]\n傻瓜\n");
    text
}
