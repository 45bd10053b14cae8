//! Streaming behaviour: framing variants, tag blocks, `$PGHP`, multipart reassembly, chunked feeding.

use ais::{DecodeError, Decoder, DecoderConfig, Message, StaticPart};

fn decode_all(decoder: &mut Decoder, text: &str) -> Vec<ais::Item> {
    let mut out: Vec<_> = decoder.feed(text.as_bytes()).collect();
    out.extend(decoder.finish());
    out
}

const TYPE5_A: [&str; 2] = [
    "!AIVDM,2,1,1,A,55?MbV02;H;s<HtKR20EHE:0@T4@Dn2222222216L961O5Gf0NSQEp6ClRp8,0*1C",
    "!AIVDM,2,2,1,A,88888888880,2*25",
];

#[test]
fn any_talker_vdo_and_line_endings() {
    let mut d = Decoder::new();
    let text = "!AIVDM,1,1,,A,15M67FC000G?ufbE`FepT@3n00Sa,0*5F\r\n!ABVDM,1,1,,B,15M67FC000G?ufbE`FepT@3n00Sa,0*5C\n";
    let items = decode_all(&mut d, text);
    assert_eq!(items.len(), 2);
    assert_eq!(&items[0].0.talker, b"AI");
    assert_eq!(items[1].0.talker_str(), "AB");
    assert_eq!(items[1].0.line, 2);
    assert_eq!(items[1].0.offset, 49);
    let vdo = ais::encode::frame(
        "15M67FC000G?ufbE`FepT@3n00Sa",
        0,
        &ais::encode::EncodeOptions::default().talker("--"),
    )
    .unwrap();
    let vdo = vdo[0].replace("VDM", "VDO");
    let body = &vdo[1..vdo.find('*').unwrap()];
    let cs = body.bytes().fold(0u8, |a, b| a ^ b);
    let vdo = format!("!{body}*{cs:02X}");
    let (meta, msg) = d.decode_line(vdo.as_bytes()).unwrap();
    assert!(meta.own_vessel);
    assert_eq!(meta.talker_str(), "--");
    assert!(msg.is_ok());
}

#[test]
fn checksum_errors_are_reported_and_counted() {
    let mut d = Decoder::new();
    let (_, res) = d
        .decode_line(b"!AIVDM,1,1,,A,15M67FC000G?ufbE`FepT@3n00Sa,0*00")
        .unwrap();
    assert!(matches!(
        res,
        Err(DecodeError::Checksum {
            found: 0,
            computed: 0x5F
        })
    ));
    assert_eq!(d.stats().checksum_errors, 1);
}

#[test]
fn non_ais_lines_are_skipped_and_counted() {
    let mut d = Decoder::new();
    let text = "# comment\n\n$GPGGA,184353.07,1929.045,S,02410.506,E,1,04,2.6,100.00,M,-33.9,M,,0000*6D\nfoobar\n";
    assert!(decode_all(&mut d, text).is_empty());
    assert_eq!(d.stats().non_ais_skipped, 4);
}

#[test]
fn trailing_receiver_metadata_is_ignored() {
    let mut d = Decoder::new();
    let line = b"!AIVDM,1,1,,A,15N1u<PP1FJuvSRHOE6QIwwh0HQ6,0*30,d-080,S2118,t050056.00,T56.4837741,r003669946,1325394060,1325394001";
    let (_, msg) = d.decode_line(line).unwrap();
    assert_eq!(msg.unwrap().msg_type(), 1);
}

#[test]
fn tag_block_source_time_and_group() {
    let mut d = Decoder::new();
    let text = "\\g:1-2-1604,s:rORBCOMM008,c:1418169601,T:2014-12-10 00.00.01*37\\!AIVDM,2,1,6,A,53@o0E000001Q0CG37U8u<Tp4q@D00000000000018330400000000000000,0*63\n\
                \\g:2-2-1604,s:rORBCOMM008,c:1418169601,T:2014-12-10 00.00.01*34\\!AIVDM,2,2,6,A,00000000008,2*2A\n";
    let items = decode_all(&mut d, text);
    assert_eq!(items.len(), 1);
    let (meta, msg) = &items[0];
    assert_eq!(meta.source.unwrap().as_str(), "rORBCOMM008");
    assert_eq!(meta.tag_time_ms, Some(1_418_169_601_000));
    assert_eq!(meta.group.unwrap().id, 1604);
    assert_eq!((meta.first_line, meta.line), (1, 2));
    assert_eq!(msg.as_ref().unwrap().msg_type(), 5);
}

#[test]
fn tag_time_in_milliseconds_and_out_of_range() {
    let tag = |inner: &str| {
        let cs = inner.bytes().fold(0u8, |a, b| a ^ b);
        format!("\\{inner}*{cs:02X}\\!AIVDM,1,1,,A,15M67FC000G?ufbE`FepT@3n00Sa,0*5F")
    };
    let mut d = Decoder::new();
    let (meta, _) = d.decode_line(tag("c:1418169601123").as_bytes()).unwrap();
    assert_eq!(meta.tag_time_ms, Some(1_418_169_601_123));
    let (meta, _) = d.decode_line(tag("c:12415440354").as_bytes()).unwrap();
    assert_eq!(meta.tag_time_ms, None);
    assert_eq!(d.stats().tag_time_out_of_range, 1);
    // A tag block with a bad checksum is dropped, the sentence still decodes.
    let (meta, msg) = d
        .decode_line(b"\\s:x,c:1418169601*00\\!AIVDM,1,1,,A,15M67FC000G?ufbE`FepT@3n00Sa,0*5F")
        .unwrap();
    assert!(meta.source.is_none() && msg.is_ok());
    assert_eq!(d.stats().tag_block_errors, 1);
}

#[test]
fn pghp_time_goes_with_the_next_sentence() {
    let mut d = Decoder::new();
    let text = "$PGHP,1,2010,6,11,11,46,11,390,231,45,992190934,1,2B*5B\n!AIVDM,1,1,,B,402=481uaUcf;OQ55JS9ITi025Jp,0*2B\n!AIVDM,1,1,,A,15M67FC000G?ufbE`FepT@3n00Sa,0*5F\n";
    let items = decode_all(&mut d, text);
    assert_eq!(items[0].0.pghp_time_ms, Some(1_276_256_771_390));
    assert_eq!(items[0].0.receiver_time_ms(), Some(1_276_256_771_390));
    assert_eq!(items[1].0.pghp_time_ms, None);
    assert_eq!(d.stats().pghp_lines, 1);
    assert!(matches!(items[0].1, Ok(Message::BaseStation(_))));
}

#[test]
fn interleaved_multipart_on_two_channels_both_recovered() {
    let b: Vec<String> = TYPE5_A
        .iter()
        .map(|l| {
            let l = l.replace(",A,", ",B,");
            let body = &l[1..l.find('*').unwrap()];
            format!("!{body}*{:02X}", body.bytes().fold(0u8, |a, b| a ^ b))
        })
        .collect();
    let text = format!("{}\n{}\n{}\n{}\n", TYPE5_A[0], b[0], TYPE5_A[1], b[1]);
    let mut d = Decoder::new();
    let items = decode_all(&mut d, &text);
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].0.channel, Some(b'A'));
    assert_eq!(items[1].0.channel, Some(b'B'));
    for (_, m) in &items {
        let Ok(Message::StaticVoyage(s)) = m else {
            panic!("{m:?}")
        };
        assert_eq!(s.shipname.as_str(), "EVER DIADEM");
    }
}

#[test]
fn out_of_order_fragments_reassemble() {
    let text = format!("{}\n{}\n", TYPE5_A[1], TYPE5_A[0]);
    let items = decode_all(&mut Decoder::new(), &text);
    assert_eq!(items.len(), 1);
    assert!(items[0].1.is_ok());
}

#[test]
fn duplicate_and_orphan_fragments_are_counted() {
    let text = format!("{}\n{}\n{}\n", TYPE5_A[0], TYPE5_A[0], TYPE5_A[1]);
    let mut d = Decoder::new();
    let items = decode_all(&mut d, &text);
    assert!(matches!(
        items[0].1,
        Err(DecodeError::DuplicateFragment {
            fragment: 1,
            count: 2
        })
    ));
    assert!(items[1].1.is_ok());
    assert_eq!(d.stats().duplicate_fragments, 1);

    // Orphans: evicted by the bound on pending groups.
    let mut d = Decoder::with_config(DecoderConfig::default().max_pending(2));
    for seq in 0..5u8 {
        let l = TYPE5_A[0].replacen(",1,A,", &format!(",{seq},A,"), 1);
        let body = &l[1..l.find('*').unwrap()];
        let l = format!("!{body}*{:02X}", body.bytes().fold(0u8, |a, b| a ^ b));
        assert!(d.decode_line(l.as_bytes()).is_none());
    }
    assert_eq!(d.pending(), 2);
    assert_eq!(d.stats().groups_evicted, 3);
    assert_eq!(d.stats().orphan_fragments, 3);
}

#[test]
fn fragments_expire_by_sentence_count() {
    let mut d = Decoder::with_config(DecoderConfig::default().max_fragment_age_sentences(2));
    assert!(d.decode_line(TYPE5_A[0].as_bytes()).is_none());
    for _ in 0..3 {
        d.decode_line(b"!AIVDM,1,1,,A,15M67FC000G?ufbE`FepT@3n00Sa,0*5F");
    }
    // The second part alone arrives after expiry: it starts a new group and waits.
    assert!(d.decode_line(TYPE5_A[1].as_bytes()).is_none());
    assert_eq!(d.stats().groups_expired, 1);
}

#[test]
fn chunked_feeding_equals_line_decoding() {
    let Some(data) = super::common::dma_stream() else {
        return;
    };
    let whole: Vec<_> = {
        let mut d = Decoder::new();
        let mut v: Vec<_> = d.feed(&data).collect();
        v.extend(d.finish());
        v
    };
    for chunk in [1usize, 7, 64, 4096] {
        let mut d = Decoder::new();
        let mut v = Vec::new();
        for c in data.chunks(chunk) {
            v.extend(d.feed(c));
        }
        v.extend(d.finish());
        assert_eq!(v, whole, "chunk size {chunk}");
    }
    let lines = ais::read::Lines::new(
        std::io::BufReader::with_capacity(100, &data[..]),
        Decoder::new(),
    );
    let v: Vec<_> = lines.map(Result::unwrap).collect();
    assert_eq!(v.len(), whole.len());
    assert!(whole.iter().filter(|(_, r)| r.is_ok()).count() > 4000);
    let without: Vec<_> = whole
        .iter()
        .filter(|(m, _)| m.pghp_time_ms.is_none())
        .map(|(m, _)| m.line)
        .collect();
    assert!(without.is_empty(), "no $PGHP time on lines {without:?}");
}

#[test]
fn overlong_lines_are_bounded() {
    let mut d = Decoder::new();
    let long = vec![b'!'; 5000];
    let items: Vec<_> = d.feed(&long).chain(std::iter::empty()).collect();
    assert!(items.is_empty());
    let (_, res) = d.finish().unwrap();
    assert!(matches!(
        res,
        Err(DecodeError::LineTooLong { len: 5000, .. })
    ));
}

#[test]
fn type24_parts_and_mmsi_classes() {
    let mut d = Decoder::new();
    let (_, a) = d
        .decode_line(b"!AIVDM,1,1,,A,H42O55i18tMET00000000000000,2*6D")
        .unwrap();
    let Ok(Message::StaticDataReport(r)) = a else {
        panic!("{a:?}")
    };
    assert!(matches!(r.part, StaticPart::A { shipname } if shipname == "PROGUY"));
    assert!(r.mmsi.is_vessel());
}

#[test]
fn bufread_adapter_bounds_long_lines_and_keeps_going() {
    let mut input = vec![b'x'; 3000];
    input.extend_from_slice(b"\n!AIVDM,1,1,,A,15M67FC000G?ufbE`FepT@3n00Sa,0*5F\n");
    let reader = std::io::BufReader::with_capacity(64, &input[..]);
    let items: Vec<_> = ais::read::Lines::new(reader, Decoder::new())
        .map(Result::unwrap)
        .collect();
    assert_eq!(items.len(), 2);
    assert!(matches!(
        items[0].1,
        Err(DecodeError::LineTooLong { len: 3000, .. })
    ));
    assert_eq!(items[1].0.line, 2);
    assert!(items[1].1.is_ok());
}
