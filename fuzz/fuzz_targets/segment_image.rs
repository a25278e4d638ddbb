//! Any bytes at a segment's path, locked as a live daemon locks its
//! segment: the real client (Rust API and C ABI) opens it or refuses it,
//! pulls what it can, and keeps its promises while doing so (checked by
//! `nickpool_server::fuzzing::open_and_pull`: no nickname longer than a slot or
//! the buffer, each one the payload of one of the image's slots, NULs and
//! lengths that match). Seeds: real segments, from tests/mutation.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nickpool_server::fuzzing::{PlantedImage, open_and_pull};

fuzz_target!(|image: &[u8]| {
    let name = format!("/nickpool-fuzz-{}", std::process::id());
    let planted = PlantedImage::plant(&name, image).expect("write the image to /dev/shm");
    open_and_pull(&name, 64, Some(image));
    drop(planted);
});
