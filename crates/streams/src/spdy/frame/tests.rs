//! Frame codec tests against hand-assembled bytes.

use super::*;

fn decode_all(bytes: &[u8]) -> Vec<Frame> {
    let mut inflater = Inflater::new();
    let mut buf = BytesMut::from(bytes);
    let mut frames = Vec::new();
    while let Some(frame) = Frame::decode(&mut buf, &mut inflater).unwrap() {
        frames.push(frame);
    }
    assert!(buf.is_empty(), "left over: {buf:?}");
    frames
}

/// A SYN_STREAM as kubectl's port-forward sends it: stream 1, priority 0, the first C-zlib block.
fn syn_stream_bytes() -> Vec<u8> {
    let block = include_bytes!("../testdata/zlib_block1.bin");
    let mut bytes = vec![0x80, 0x03, 0x00, 0x01, 0x00];
    bytes.extend_from_slice(&(10 + block.len() as u32).to_be_bytes()[1..]);
    bytes.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    bytes.extend_from_slice(block);
    bytes
}

#[test]
fn decodes_a_syn_stream_then_data_fin() {
    let mut bytes = syn_stream_bytes();
    // Empty DATA with FIN on stream 1.
    bytes.extend_from_slice(&[0, 0, 0, 1, 0x01, 0, 0, 0]);
    let frames = decode_all(&bytes);
    assert_eq!(
        frames,
        vec![
            Frame::SynStream {
                stream_id: 1,
                associated_id: 0,
                priority: 0,
                flags: 0,
                headers: Headers::new()
                    .with("streamtype", "error")
                    .with("port", "8080")
                    .with("requestid", "0"),
            },
            Frame::Data {
                stream_id: 1,
                flags: FLAG_FIN,
                data: Bytes::new(),
            },
        ]
    );
}

#[test]
fn waits_for_a_whole_frame() {
    let bytes = syn_stream_bytes();
    let mut inflater = Inflater::new();
    let mut buf = BytesMut::new();
    for (i, byte) in bytes.iter().enumerate() {
        buf.put_u8(*byte);
        let frame = Frame::decode(&mut buf, &mut inflater).unwrap();
        assert_eq!(frame.is_some(), i == bytes.len() - 1, "at byte {i}");
    }
}

#[test]
fn decodes_control_frames() {
    let bytes = [
        // PING 7
        0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x07,
        // RST_STREAM stream 3, CANCEL
        0x80, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
        0x05, // GOAWAY last 5, OK
        0x80, 0x03, 0x00, 0x07, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00,
        0x00, // WINDOW_UPDATE stream 1 +65536
        0x80, 0x03, 0x00, 0x09, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
        0x00, // SETTINGS with one entry
        0x80, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x07, 0x00, 0x01, 0x00, 0x00, // type 0x0a (CREDENTIAL), unknown here
        0x80, 0x03, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x02, 0xaa, 0xbb, // DATA stream 5 "hi"
        0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x02, b'h', b'i',
    ];
    assert_eq!(
        decode_all(&bytes),
        vec![
            Frame::Ping { id: 7 },
            Frame::RstStream {
                stream_id: 3,
                status: RST_CANCEL
            },
            Frame::GoAway {
                last_good_stream_id: 5,
                status: 0
            },
            Frame::WindowUpdate {
                stream_id: 1,
                delta: 65536
            },
            Frame::Settings,
            Frame::Unknown { frame_type: 10 },
            Frame::Data {
                stream_id: 5,
                flags: 0,
                data: Bytes::from_static(b"hi")
            },
        ]
    );
}

#[test]
fn rejects_other_versions_and_short_frames() {
    let mut inflater = Inflater::new();
    let mut spdy2 = BytesMut::from(&[0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1][..]);
    assert!(matches!(
        Frame::decode(&mut spdy2, &mut inflater),
        Err(SpdyError::UnsupportedVersion(2))
    ));
    let mut short_ping = BytesMut::from(&[0x80, 0x03, 0x00, 0x06, 0, 0, 0, 2, 0, 0][..]);
    assert!(Frame::decode(&mut short_ping, &mut inflater).is_err());
}

#[test]
fn encodes_fixed_layouts() {
    let mut deflater = Deflater::new().unwrap();
    let mut out = BytesMut::new();
    Frame::Data {
        stream_id: 3,
        flags: FLAG_FIN,
        data: Bytes::from_static(b"ok"),
    }
    .encode(&mut out, &mut deflater)
    .unwrap();
    Frame::Ping { id: 9 }
        .encode(&mut out, &mut deflater)
        .unwrap();
    Frame::RstStream {
        stream_id: 3,
        status: RST_CANCEL,
    }
    .encode(&mut out, &mut deflater)
    .unwrap();
    Frame::GoAway {
        last_good_stream_id: 7,
        status: 0,
    }
    .encode(&mut out, &mut deflater)
    .unwrap();
    assert_eq!(
        &out[..],
        &[
            0x00, 0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x02, b'o', b'k', 0x80, 0x03, 0x00, 0x06,
            0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x09, 0x80, 0x03, 0x00, 0x03, 0x00, 0x00,
            0x00, 0x08, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x05, 0x80, 0x03, 0x00, 0x07,
            0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00,
        ][..]
    );
}

#[test]
fn syn_reply_round_trips_through_the_zlib_streams() {
    let mut deflater = Deflater::new().unwrap();
    let mut out = BytesMut::new();
    let replies = [1u32, 3, 5];
    for id in replies {
        Frame::SynReply {
            stream_id: id,
            flags: 0,
            headers: Headers::new(),
        }
        .encode(&mut out, &mut deflater)
        .unwrap();
    }
    // Control bit, version 3, type 2, no flags.
    assert_eq!(&out[..5], &[0x80, 0x03, 0x00, 0x02, 0x00]);
    let frames = decode_all(&out);
    let ids: Vec<u32> = frames
        .iter()
        .map(|f| match f {
            Frame::SynReply {
                stream_id, headers, ..
            } => {
                assert_eq!(headers, &Headers::new());
                *stream_id
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(ids, replies);
}

#[test]
fn refuses_oversized_payloads() {
    let mut deflater = Deflater::new().unwrap();
    let mut out = BytesMut::new();
    let data = Bytes::from(vec![0u8; MAX_PAYLOAD + 1]);
    assert!(matches!(
        Frame::Data {
            stream_id: 1,
            flags: 0,
            data
        }
        .encode(&mut out, &mut deflater),
        Err(SpdyError::FrameTooLarge(_))
    ));
}
