//! Fuzzes `hhmon::decode` in both modes: the input's first byte picks the link type, the rest
//! is the frame. Beyond not panicking, decapsulation must lose no packet: it rejects exactly
//! what `decode` rejects, keeps `decode`'s flow when it opens no tunnel (flagging it only when
//! a tunnel could not be opened), and `decode_with` agrees with both.
#![no_main]

use hhmon::decode::{decapsulate, decode, decode_with, DecodeOptions, Decoded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let (link, frame) = hhmon_fuzz::split(input);
    let outer = decode(link, frame);
    let inner = decapsulate(link, frame);
    match (outer, inner) {
        (Err(a), Err(b)) => assert_eq!(a, b),
        (Ok(a), Ok(b)) if b.tunnels == 0 => {
            let unflagged = Decoded {
                decap_fallback: None,
                ..b.decoded
            };
            assert_eq!(a, unflagged);
        }
        (Ok(_), Ok(b)) => assert!(b.tunnels <= hhmon::decode::MAX_TUNNELS),
        (a, b) => panic!("decode {a:?}, decapsulate {b:?}"),
    }
    if let Ok(outer) = outer {
        assert_eq!(outer.decap_fallback, None);
    }
    assert_eq!(decode_with(DecodeOptions::default(), link, frame), outer);
    let decap = DecodeOptions { decap: true };
    assert_eq!(decode_with(decap, link, frame), inner.map(|d| d.decoded));
});
