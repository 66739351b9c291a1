//! The Modbus configuration's tests: each mistake reported with its line, serial ports shared,
//! write targets, addresses and codes.

use super::*;

#[test]
fn modicon_and_explicit_addresses() {
    let h = Table::HoldingRegisters;
    assert_eq!(parse_address("400001", 0), Ok((h, 0, None)));
    assert_eq!(parse_address("40001", 0), Ok((h, 0, None)));
    assert_eq!(parse_address("465536", 0), Ok((h, 65535, None)));
    assert_eq!(parse_address("400010.3", 0), Ok((h, 9, Some(3))));
    assert_eq!(
        parse_address("300002", 0),
        Ok((Table::InputRegisters, 1, None))
    );
    assert_eq!(parse_address("000001", 0), Ok((Table::Coils, 0, None)));
    assert_eq!(parse_address("00001", 0), Ok((Table::Coils, 0, None)));
    assert_eq!(
        parse_address("100017", 0),
        Ok((Table::DiscreteInputs, 16, None))
    );
    assert_eq!(parse_address("holding:0", 0), Ok((h, 0, None)));
    assert_eq!(parse_address("holding:1", 1), Ok((h, 0, None)));
    assert_eq!(
        parse_address("input:65535", 0),
        Ok((Table::InputRegisters, 65535, None))
    );
    assert_eq!(parse_address("coil:7", 0), Ok((Table::Coils, 7, None)));
    assert_eq!(parse_address("holding:4.15", 0), Ok((h, 4, Some(15))));
    for bad in [
        "400000",
        "465537",
        "40000",
        "200001",
        "4000001",
        "holding:65536",
        "holding:0",
        "bogus:1",
        "400001.16",
        "000001.2",
        "",
        "4x0001",
    ] {
        let base = if bad == "holding:0" { 1 } else { 0 };
        assert!(parse_address(bad, base).is_err(), "{bad} should be refused");
    }
    assert!(
        parse_address("400000", 0)
            .unwrap_err()
            .contains("out of range")
    );
}

#[test]
fn modicon_round_trip() {
    assert_eq!(modicon(Table::HoldingRegisters, 0, None), "400001");
    assert_eq!(modicon(Table::InputRegisters, 9, Some(3)), "300010.3");
    assert_eq!(modicon(Table::Coils, 65535, None), "065536");
}

#[test]
fn state_codes() {
    assert_eq!(
        parse_state_code("down: jam"),
        Some(StateCode {
            state: MachineState::Down,
            reason: Some("jam".into())
        })
    );
    assert_eq!(
        parse_state_code("running"),
        Some(StateCode {
            state: MachineState::Running,
            reason: None
        })
    );
    assert_eq!(parse_state_code("asleep"), None);
}

#[test]
fn hosts_get_the_modbus_port() {
    assert_eq!(normalise_host("10.0.0.5").unwrap(), "10.0.0.5:502");
    assert_eq!(normalise_host("10.0.0.5:1502").unwrap(), "10.0.0.5:1502");
    assert_eq!(normalise_host("plc-1.local").unwrap(), "plc-1.local:502");
    assert_eq!(normalise_host("::1").unwrap(), "[::1]:502");
    assert!(normalise_host("plc:x").is_err());
    assert!(normalise_host("").is_err());
}

const HEAD: &str = r#"edge_id = "line-1"
[central]
url = "http://127.0.0.1:8080"
token = "t"
"#;

/// The mistakes `EdgeConfig::from_toml_str` reports for `HEAD` + `sources`, as lines.
fn mistakes(sources: &str) -> Vec<String> {
    match crate::config::EdgeConfig::from_toml_str(&format!("{HEAD}{sources}")) {
        Ok(_) => Vec::new(),
        Err(e) => e.mistakes().iter().map(|m| m.to_string()).collect(),
    }
}

fn device(sources: &str) -> ModbusDevice {
    let config = crate::config::EdgeConfig::from_toml_str(&format!("{HEAD}{sources}"))
        .unwrap_or_else(|e| panic!("{e}"));
    match &config.sources[0] {
        crate::config::SourceConfig::Modbus(m) => m.device().unwrap().clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_full_device_is_read_as_written() {
    let d = device(
        r#"[[sources]]
type = "modbus"
device = "press-1"
host = "127.0.0.1:5020"
unit = 3
timeout = "250ms"
station = "st-10"
byte_order = "CDAB"
address_base = 1
interval = "500ms"

[[sources.groups]]
name = "fast"
interval = "100ms"

[[sources.tags]]
name = "good"
address = "400001"
role = "counter"
group = "fast"

[[sources.tags]]
name = "total"
address = "holding:11"
type = "u32"
byte_order = "ABCD"
role = "counter"
counts = "scrap"
max_step = 500

[[sources.tags]]
name = "state"
address = 400003
role = "state"
states = { 0 = "off", 1 = "running", 3 = "down: jam" }

[[sources.tags]]
name = "diameter"
address = "300001"
type = "f32"
scale = 0.5
deadband = 0.01
role = "measurement"
characteristic = "hole-diameter"
unit = "mm"
station = "st-20"

[[sources.tags]]
name = "door"
address = "400010.3"

[[sources.tags]]
name = "recipe"
address = "holding:30"
type = "string"
length = 8
report = "every_poll"
"#,
    );
    assert_eq!(d.device, "press-1");
    assert_eq!(d.unit, 3);
    assert_eq!(d.timeout, Duration::from_millis(250));
    assert_eq!(d.groups.len(), 2);
    let default = &d.groups[0];
    assert_eq!(default.interval, Duration::from_millis(500));
    let fast = &d.groups[1];
    assert_eq!(
        (fast.name.as_str(), fast.interval),
        ("fast", Duration::from_millis(100))
    );
    assert_eq!(fast.tags[0].data_type, DataType::U16);
    assert_eq!(fast.tags[0].order, ByteOrder::Cdab);
    assert_eq!(
        fast.tags[0].meaning,
        Some(Meaning::Counter {
            station: Some("st-10".into()),
            counts: Counts::Good,
            bits: 16,
            max_step: 32768
        })
    );
    let by_name = |n: &str| default.tags.iter().find(|t| t.name == n).unwrap();
    let total = by_name("total");
    assert_eq!((total.address, total.order), (10, ByteOrder::Abcd));
    assert!(matches!(
        total.meaning,
        Some(Meaning::Counter {
            bits: 32,
            max_step: 500,
            counts: Counts::Scrap,
            ..
        })
    ));
    let Some(Meaning::State { codes, .. }) = &by_name("state").meaning else {
        panic!()
    };
    assert_eq!(codes[&3].reason.as_deref(), Some("jam"));
    let diameter = by_name("diameter");
    assert_eq!(diameter.table, Table::InputRegisters);
    assert!(
        matches!(&diameter.meaning, Some(Meaning::Measurement { station: Some(s), .. }) if s == "st-20")
    );
    let door = by_name("door");
    assert_eq!(
        (door.data_type, door.bit, door.address),
        (DataType::Bool, Some(3), 9)
    );
    let recipe = by_name("recipe");
    assert_eq!(recipe.data_type, DataType::String { chars: 8 });
    assert_eq!(recipe.width(), 4);
    assert_eq!(recipe.report, Report::EveryPoll);
}

#[test]
fn register_map_mistakes_are_each_reported_with_their_line() {
    let m = mistakes(
        r#"[[sources]]
type = "modbus"
device = "press-1"
host = "127.0.0.1:5020"

[[sources.tags]]
name = "a"
address = "400001"
type = "u32"

[[sources.tags]]
name = "b"
address = "400002"

[[sources.tags]]
name = "c"
address = "400005"
type = "u32"
registers = 1

[[sources.tags]]
name = "d"
address = "465537"

[[sources.tags]]
name = "e"
address = "400020"
type = "u17"

[[sources.tags]]
name = "f"
address = "465536"
type = "f32"

[[sources.tags]]
name = "g"
address = "400030.2"
type = "i32"
"#,
    );
    assert_eq!(
        m,
        vec![
            "line 23: tag \"c\": type u32 takes 2 registers, but registers = 1",
            "line 27: tag \"d\": address \"465537\" out of range; expected 400001 to 465536",
            "line 32: tag \"e\": unknown type \"u17\"; expected one of bool, i16, u16, i32, u32, i64, u64, f32, f64, string",
            "line 36: tag \"f\": address 465536 out of range: its 2 registers run past the last address of the table",
            "line 42: tag \"g\": bit address 400030.2 is a single bit; type i32 needs 2 registers",
            "line 17: tag \"b\" (400002, 1 register) overlaps tag \"a\" (400001, 2 registers)",
        ]
    );
}

#[test]
fn device_and_meaning_mistakes_are_reported_too() {
    let m = mistakes(
        r#"[[sources]]
type = "modbus"
device = "press 1"
host = "plc:x"
unit = 300
byte_order = "ABDC"

[[sources.tags]]
name = "count"
address = "400001"
type = "f32"
role = "counter"

[[sources.tags]]
name = "state"
address = "400003"
role = "state"
states = { 1 = "sprinting" }

[[sources.tags]]
name = "x"
address = "400004"
role = "telepathy"
group = "nope"
"#,
    );
    assert_eq!(
        m,
        vec![
            "line 7: device \"press 1\" must be non-empty and use only letters, digits, '-', '_' and '.'",
            "line 8: host \"plc:x\" is not host:port; expected e.g. \"plc-1.local:502\"",
            "line 9: unit is 300; expected 0 to 255",
            "line 10: byte_order \"ABDC\" is unknown; expected ABCD, CDAB, BADC or DCBA",
            "line 16: tag \"count\": a counter is a plain integer (i16 to u64) without scale, offset or deadband",
            "line 22: tag \"state\": state \"sprinting\" for code 1 is unknown; expected running, idle, down, setup or off, optionally with \": reason\"",
            "line 27: tag \"x\": role \"telepathy\" is unknown; expected counter, state or measurement",
        ]
    );
}

#[test]
fn write_targets_are_read_and_their_mistakes_reported_with_lines() {
    let d = device(
        r#"[[sources]]
type = "modbus"
device = "press-1"
host = "127.0.0.1"

[[sources.tags]]
name = "a"
address = "400001"

[[sources.write]]
parameter = "target_qty"
address = "400011"
type = "u32"
byte_order = "CDAB"

[[sources.write]]
parameter = "work_order"
address = "holding:13"
type = "string"
length = 14
"#,
    );
    assert_eq!(
        d.writes,
        vec![
            WriteTarget {
                parameter: "target_qty".into(),
                address: 10,
                data_type: DataType::U32,
                order: ByteOrder::Cdab,
            },
            WriteTarget {
                parameter: "work_order".into(),
                address: 13,
                data_type: DataType::String { chars: 14 },
                order: ByteOrder::Abcd,
            },
        ]
    );
    let m = mistakes(
        r#"[[sources]]
type = "modbus"
device = "press-1"
host = "127.0.0.1"

[[sources.tags]]
name = "a"
address = "400001"

[[sources.write]]
parameter = "target_qty"
address = "400011"
type = "u32"

[[sources.write]]
parameter = "recipe"
address = "400012"

[[sources.write]]
parameter = "target_qty"
address = "400030"

[[sources.write]]
parameter = "speed"
address = "300001"

[[sources.write]]
parameter = "mode"
address = "400040"
type = "bool"

[[sources.write]]
parameter = "name"
address = "400050"
type = "string"
"#,
    );
    assert_eq!(
        m,
        vec![
            "line 21: write \"recipe\" at 400012 overlaps write \"target_qty\"",
            "line 24: write parameter \"target_qty\" is configured twice",
            "line 29: write \"speed\": 300001 is in the input table; only whole holding registers (4xxxxx) are written",
            "line 34: write \"mode\": type \"bool\" cannot be written; expected i16, u16, i32, u32, i64, u64, f32, f64 or string",
            "line 39: write \"name\": a string needs its length in characters (length = 14)",
        ]
    );
    let m = mistakes(
        r#"[[sources]]
type = "modbus"
device = "press-1"
host = "127.0.0.1"

[[sources.tags]]
name = "a"
address = "400001"

[[sources.write]]
parameter = "x"
address = "400011"
scale = 2
"#,
    );
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(m[0].contains("scale") && m[0].starts_with("line "), "{m:?}");
}

#[test]
fn an_unknown_key_in_a_tag_is_refused() {
    let m = mistakes(
        r#"[[sources]]
type = "modbus"
device = "press-1"
host = "127.0.0.1"

[[sources.tags]]
name = "a"
address = "400001"
colour = "red"
"#,
    );
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(m[0].contains("colour"), "{m:?}");
    assert!(m[0].starts_with("line "), "{m:?}");
}

#[test]
fn bits_of_a_status_word_may_be_read_with_it_but_not_twice() {
    let m = mistakes(
        r#"[[sources]]
type = "modbus"
device = "press-1"
host = "127.0.0.1"

[[sources.tags]]
name = "status"
address = "400010"

[[sources.tags]]
name = "door"
address = "400010.3"

[[sources.tags]]
name = "door-again"
address = "holding:9.3"
"#,
    );
    assert_eq!(
        m,
        vec![
            "line 20: tag \"door-again\" (400010.3, 1 register) overlaps tag \"door\" (400010.3, 1 register)"
        ]
    );
}

/// The raw shape of one source table, as the file gives it.
fn raw(source: &str) -> RawModbus {
    toml::from_str(source).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn serial_line_settings_are_read_and_defaulted_in_every_build() {
    let mut m = Mistakes(Vec::new());
    let (host, line) = validate_link(
        &mut m,
        &raw("device = \"p\"\nserial = \" /dev/ttyUSB0 \"\n"),
        "p",
    );
    assert_eq!(host, "/dev/ttyUSB0");
    assert_eq!(
        line,
        Some(SerialLine {
            path: "/dev/ttyUSB0".into(),
            baud: 19_200,
            parity: Parity::Even,
            data_bits: 8,
            stop_bits: 1,
        }),
        "19200 8E1 unless told otherwise (even parity is the Modbus default)"
    );
    let no_support: Vec<_> = m.0.iter().map(|x| x.message.as_str()).collect();
    if SERIAL_SUPPORT {
        assert!(no_support.is_empty(), "{no_support:?}");
    } else {
        assert_eq!(no_support.len(), 1, "{no_support:?}");
        assert!(
            no_support[0].ends_with("this build has no serial support; build with --features rtu"),
            "{no_support:?}"
        );
    }

    let mut m = Mistakes(Vec::new());
    let (_, line) = validate_link(
        &mut m,
        &raw(
            "device = \"p\"\nserial = \"COM3\"\nbaud = 9600\nparity = \"None\"\ndata_bits = 8\nstop_bits = 2\n",
        ),
        "p",
    );
    let line = line.unwrap();
    assert_eq!(line.settings(), "9600 8N2");
    assert_eq!(line.bits_per_char(), 11);
    assert_eq!(m.0.len(), usize::from(!SERIAL_SUPPORT));
}

#[test]
fn the_frame_gap_is_three_and_a_half_characters_up_to_19200_baud() {
    let mut line = SerialLine {
        path: "/dev/ttyS0".into(),
        baud: 19_200,
        parity: Parity::Even,
        data_bits: 8,
        stop_bits: 1,
    };
    // 11 bits a character: 3.5 * 11 / 19200 s.
    assert_eq!(line.frame_gap().as_micros(), 2005);
    line.baud = 9600;
    assert_eq!(line.frame_gap().as_micros(), 4010);
    line.baud = 115_200;
    assert_eq!(line.frame_gap(), Duration::from_micros(1750));
}

#[test]
fn serial_mistakes_are_reported_with_their_lines() {
    let tags = "[[sources.tags]]\nname = \"a\"\naddress = \"400001\"\n";
    let m = mistakes(&format!(
        r#"[[sources]]
type = "modbus"
device = "both"
host = "10.0.0.5"
serial = "/dev/ttyUSB0"
{tags}
[[sources]]
type = "modbus"
device = "neither"
{tags}
[[sources]]
type = "modbus"
device = "bad-line"
serial = "/dev/ttyUSB1"
baud = 0
parity = "mark"
data_bits = 7
stop_bits = 3
unit = 0
{tags}
[[sources]]
type = "modbus"
device = "tcp"
host = "10.0.0.6"
parity = "even"
{tags}"#
    ));
    let (no_support, rest): (Vec<_>, Vec<_>) = m
        .into_iter()
        .partition(|x| x.contains("this build has no serial support"));
    assert_eq!(
        rest,
        vec![
            "line 9: device \"both\" has both host and serial; a device is either at a host (Modbus TCP) or on a serial line (Modbus RTU), so give one of them",
            "line 16: device \"neither\" has neither host (Modbus TCP: host = \"10.0.0.5:502\") nor serial (Modbus RTU: serial = \"/dev/ttyUSB0\"); expected one of them",
            "line 25: baud is 0; expected a rate such as 9600, 19200 or 115200 (50 to 4000000)",
            "line 26: parity \"mark\" is unknown; expected even, odd or none",
            "line 27: data_bits is 7; Modbus RTU sends 8 data bits (7 is Modbus ASCII, which is not supported)",
            "line 28: stop_bits is 3; expected 1 or 2 (2 when parity = \"none\", as the Modbus specification asks)",
            "line 29: unit is 0 on a serial line; expected 1 to 247 (0 is broadcast, which no slave answers; 248 to 255 are reserved)",
            "line 38: parity is only for a serial device (serial = \"/dev/ttyUSB0\"), not one at host \"10.0.0.6\"",
        ]
    );
    if SERIAL_SUPPORT {
        assert!(no_support.is_empty(), "{no_support:?}");
    } else {
        assert_eq!(
            no_support,
            vec![
                "line 24: device \"bad-line\" is on serial port \"/dev/ttyUSB1\", but this build has no serial support; build with --features rtu"
            ]
        );
    }
}

#[test]
fn devices_on_one_port_share_its_settings_and_not_their_unit_ids() {
    let line = |baud| SerialLine {
        path: "/dev/ttyUSB0".into(),
        baud,
        parity: Parity::Even,
        data_bits: 8,
        stop_bits: 1,
    };
    let on = |name: &str, unit, serial: Option<SerialLine>| ModbusDevice {
        device: name.into(),
        host: "/dev/ttyUSB0".into(),
        serial,
        unit,
        timeout: Duration::from_secs(1),
        station: None,
        max_gap_registers: 8,
        max_gap_bits: 64,
        backoff_min: Duration::from_millis(500),
        backoff_max: Duration::from_secs(30),
        fault_interval: Duration::from_secs(60),
        groups: Vec::new(),
        writes: Vec::new(),
    };
    let a = on("a", 1, Some(line(19_200)));
    let b = on("b", 2, Some(line(19_200)));
    let c = on("c", 2, Some(line(19_200)));
    let d = on("d", 3, Some(line(9600)));
    let tcp = on("tcp", 1, None);
    assert!(serial_line_mistakes(&[&a, &b, &tcp]).is_empty());
    let found = serial_line_mistakes(&[&a, &b, &c, &d, &tcp]);
    let found: Vec<(usize, &str)> = found
        .iter()
        .map(|(i, m)| (*i, m.message.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![
            (
                2,
                "device \"c\": unit 2 on /dev/ttyUSB0 is already another device's; each slave on a serial line has its own unit id"
            ),
            (
                3,
                "device \"d\" uses 9600 8E1 on /dev/ttyUSB0, but device \"a\" on the same port uses 19200 8E1; every device on one port shares its line settings"
            ),
        ]
    );
}

/// The RTU example is a commented block in configs/edge-modbus.toml (a default build refuses
/// serial devices, and every file under configs/ must pass `mes check-config` there). Keep
/// it honest: uncommented, it parses, and a build without `rtu` says only that.
#[test]
fn the_commented_rtu_example_parses() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/edge-modbus.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let start = text
        .find("# --- Modbus RTU")
        .expect("the RTU example block in configs/edge-modbus.toml");
    let block: String = text[start..]
        .lines()
        .skip_while(|l| *l != "# [[sources]]")
        .take_while(|l| !l.starts_with("# ---"))
        .filter_map(|l| l.strip_prefix("# "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(block.contains("serial = "), "{block}");
    let m = mistakes(&block);
    if SERIAL_SUPPORT {
        assert!(m.is_empty(), "{m:?}\n{block}");
        let d = device(&block);
        let line = d.serial.as_ref().unwrap();
        assert_eq!(line.settings(), "19200 8E1");
    } else {
        assert!(!m.is_empty());
        assert!(
            m.iter().all(|x| x.contains("no serial support")),
            "{m:?}\n{block}"
        );
    }
}

#[test]
fn two_sources_for_one_device_are_refused() {
    let one = "[[sources]]\ntype = \"modbus\"\ndevice = \"p\"\nhost = \"127.0.0.1\"\n[[sources.tags]]\nname = \"a\"\naddress = \"400001\"\n";
    let m = mistakes(&format!("{one}{one}"));
    assert_eq!(m, vec!["line 14: modbus device \"p\" is configured twice"]);
}
