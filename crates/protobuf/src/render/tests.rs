//! Unit tests for the renderer, on small hand-built schemas and messages.

use serde_json::json;

use super::message;
use crate::schema::Kind::*;
use crate::schema::Shape::*;
use crate::schema::{f, Message};
use crate::wire::encode::{bytes, int, msg, varint};
use crate::ProtobufError;

static INNER: Message = Message {
    name: "Inner",
    fields: &[f(1, "s", Str, ValOmit), f(2, "n", I32, Val)],
};

static OUTER: Message = Message {
    name: "Outer",
    fields: &[
        f(1, "str", Str, ValOmit),
        f(2, "always", Str, Val),
        f(3, "ptr", I64, Ptr),
        f(4, "ptrOmit", Bool, PtrOmit),
        f(5, "list", Str, List),
        f(6, "listOmit", I32, ListOmit),
        f(7, "labels", Str, MapOmit),
        f(8, "data", Bytes, MapOmit),
        f(9, "inner", Msg(&INNER), ValOmit),
        f(10, "inline", Msg(&INNER), Inline),
        f(11, "time", Time, ValOmit),
        f(12, "micro", MicroTime, PtrOmit),
        f(13, "port", IntOrString, ValOmit),
        f(14, "quantity", Quantity, ValOmit),
        f(15, "limits", Quantity, MapOmit),
        f(16, "fields", FieldsV1, PtrOmit),
        f(17, "inners", Msg(&INNER), ListOmit),
        f(18, "flag", Bool, ValOmit),
    ],
};

fn decode(buf: &[u8]) -> Result<serde_json::Value, ProtobufError> {
    message(&OUTER, buf, 0, 0)
}

fn entry(key: &str, value: &[u8]) -> Vec<u8> {
    msg(|m| {
        bytes(m, 1, key.as_bytes());
        bytes(m, 2, value);
    })
}

#[test]
fn empty_message_gets_go_defaults() {
    assert_eq!(
        decode(&[]).unwrap(),
        json!({
            "always": "", "ptr": null, "list": null, "inner": {"n": 0}, "n": 0,
            "time": null, "port": 0, "quantity": "0"
        })
    );
}

#[test]
fn zero_values_follow_omitempty() {
    let buf = msg(|m| {
        bytes(m, 1, b"");
        bytes(m, 2, b"");
        int(m, 3, 0);
        int(m, 4, 0);
        int(m, 18, 0);
    });
    let got = decode(&buf).unwrap();
    assert!(got.get("str").is_none());
    assert!(got.get("flag").is_none());
    assert_eq!(got["always"], "");
    assert_eq!(got["ptr"], 0, "a present pointer is written even when zero");
    assert_eq!(got["ptrOmit"], false);
}

#[test]
fn scalars_lists_and_maps() {
    let buf = msg(|m| {
        bytes(m, 1, "héllo".as_bytes());
        int(m, 3, (-5i64) as u64);
        bytes(m, 5, b"a");
        bytes(m, 5, b"b");
        int(m, 6, (-1i64) as u64); // int32 -1 is sent sign-extended to ten bytes
        bytes(
            m,
            6,
            &msg(|p| {
                varint(p, 2);
                varint(p, 3);
            }),
        ); // packed
        bytes(m, 7, &entry("app", b"web"));
        bytes(m, 7, &entry("app", b"api")); // last entry wins
        bytes(m, 7, &msg(|e| bytes(e, 1, b"nokey-value-missing")));
        bytes(m, 8, &entry("k", b"\x00\xff"));
        int(m, 18, 1);
    });
    let got = decode(&buf).unwrap();
    assert_eq!(got["str"], "héllo");
    assert_eq!(got["ptr"], -5);
    assert_eq!(got["list"], json!(["a", "b"]));
    assert_eq!(got["listOmit"], json!([-1, 2, 3]));
    assert_eq!(
        got["labels"],
        json!({"app": "api", "nokey-value-missing": ""})
    );
    assert_eq!(got["data"], json!({"k": "AP8="}));
    assert_eq!(got["flag"], true);
}

#[test]
fn nested_inline_and_merged_messages() {
    let buf = msg(|m| {
        bytes(m, 9, &msg(|i| bytes(i, 1, b"first")));
        bytes(m, 9, &msg(|i| int(i, 2, 7))); // merged into the same message
        bytes(m, 10, &msg(|i| bytes(i, 1, b"flat")));
        bytes(m, 17, &msg(|i| int(i, 2, 1)));
        bytes(m, 17, &[]);
    });
    let got = decode(&buf).unwrap();
    assert_eq!(got["inner"], json!({"s": "first", "n": 7}));
    assert_eq!(got["s"], "flat");
    assert_eq!(got["n"], 0);
    assert_eq!(got["inners"], json!([{"n": 1}, {"n": 0}]));
}

#[test]
fn apimachinery_types() {
    let buf = msg(|m| {
        bytes(
            m,
            11,
            &msg(|t| {
                int(t, 1, 1_700_000_000);
                int(t, 2, 5);
            }),
        );
        bytes(
            m,
            12,
            &msg(|t| {
                int(t, 1, 1_700_000_000);
                int(t, 2, 123_456_000);
            }),
        );
        bytes(
            m,
            13,
            &msg(|p| {
                int(p, 1, 1);
                bytes(p, 3, b"http");
            }),
        );
        bytes(m, 14, &msg(|q| bytes(q, 1, b"500m")));
        bytes(m, 15, &entry("memory", &msg(|q| bytes(q, 1, b"64Mi"))));
        bytes(m, 16, &msg(|r| bytes(r, 1, br#"{"f:metadata":{}}"#)));
    });
    let got = decode(&buf).unwrap();
    assert_eq!(got["time"], "2023-11-14T22:13:20Z");
    assert_eq!(got["micro"], "2023-11-14T22:13:20.123456Z");
    assert_eq!(got["port"], "http");
    assert_eq!(got["quantity"], "500m");
    assert_eq!(got["limits"], json!({"memory": "64Mi"}));
    assert_eq!(got["fields"], json!({"f:metadata": {}}));
}

#[test]
fn time_is_null_only_when_its_message_is_empty() {
    let zero_seconds = msg(|m| bytes(m, 11, &msg(|t| int(t, 1, 0))));
    assert_eq!(
        decode(&zero_seconds).unwrap()["time"],
        "1970-01-01T00:00:00Z"
    );
    let empty = msg(|m| bytes(m, 11, &[]));
    assert_eq!(decode(&empty).unwrap()["time"], serde_json::Value::Null);
    let empty_quantity = msg(|m| bytes(m, 14, &[]));
    assert_eq!(decode(&empty_quantity).unwrap()["quantity"], "0");
}

#[test]
fn unknown_fields_are_skipped_whatever_their_wire_type() {
    let buf = msg(|m| {
        int(m, 100, 1);
        bytes(m, 101, b"junk");
        m.extend_from_slice(&[0xb1, 0x06, 1, 2, 3, 4, 5, 6, 7, 8]); // 102: fixed64
        m.extend_from_slice(&[0xbd, 0x06, 1, 2, 3, 4]); // 103: fixed32
        bytes(m, 1, b"kept");
    });
    assert_eq!(decode(&buf).unwrap()["str"], "kept");
}

#[test]
fn malformed_values_are_errors() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (msg(|m| int(m, 1, 5)), "field Outer.str has wire type 0"),
        (
            msg(|m| bytes(m, 3, b"x")),
            "field Outer.ptr has wire type 2",
        ),
        (
            msg(|m| bytes(m, 13, &msg(|p| int(p, 1, 2)))),
            "IntOrString has invalid type 2",
        ),
        (
            msg(|m| bytes(m, 11, &msg(|t| int(t, 1, u64::MAX / 2)))),
            "outside the years",
        ),
        (
            msg(|m| bytes(m, 16, &msg(|r| bytes(r, 1, b"{")))),
            "not valid JSON",
        ),
        (msg(|m| bytes(m, 7, &msg(|e| int(e, 1, 3)))), "map entry"),
        (msg(|m| bytes(m, 9, &[0x0a, 0x09])), "announces 9 bytes"),
    ];
    for (buf, want) in cases {
        let err = decode(&buf).unwrap_err().to_string();
        assert!(err.contains(want), "got {err:?}, want {want:?}");
    }
}

static DEEP: Message = Message {
    name: "Deep",
    fields: &[f(1, "next", Msg(&DEEP), PtrOmit)],
};

#[test]
fn nesting_is_bounded() {
    let mut buf = Vec::new();
    for _ in 0..40 {
        buf = msg(|m| bytes(m, 1, &buf));
    }
    let err = message(&DEEP, &buf, 0, 0).unwrap_err();
    assert!(matches!(err, ProtobufError::TooDeep(_)), "{err}");
    let mut shallow = Vec::new();
    for _ in 0..5 {
        shallow = msg(|m| bytes(m, 1, &shallow));
    }
    assert_eq!(
        message(&DEEP, &shallow, 0, 0).unwrap(),
        json!({"next": {"next": {"next": {"next": {"next": {}}}}}})
    );
}
