//! Any bytes as a dictionary file: the parser accepts them or lists line
//! numbered problems, without panicking; and a dictionary it accepts
//! generates whole UTF-8 nicknames that fit a ring slot.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nickpool::MAX_NICKNAME_LEN;
use nickpool_server::generator::{Dictionary, Generator, LoadOptions, Seed};
use std::sync::Arc;

fuzz_target!(|text: &[u8]| {
    match Dictionary::parse("fuzz.dict", text, &LoadOptions::default()) {
        Ok(dict) => {
            assert!(dict.max_len() <= MAX_NICKNAME_LEN);
            let mut generator = Generator::new(Arc::new(dict), Seed::Fixed(1), 0);
            let mut buf = [0u8; MAX_NICKNAME_LEN];
            for _ in 0..16 {
                let len = generator.generate_into(&mut buf);
                assert!(std::str::from_utf8(&buf[..len]).is_ok());
            }
        }
        Err(e) => assert!(!e.problems.is_empty()),
    }
});
