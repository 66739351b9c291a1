//! Serial lines (Modbus RTU): parity, line settings, the mistakes between devices on one
//! port, and `host` or `serial`: which link a device uses.

use super::*;

/// Parity of a serial line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Parity {
    None,
    Even,
    Odd,
}

impl Parity {
    pub(super) fn parse(text: &str) -> Option<Parity> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" | "n" => Some(Parity::None),
            "even" | "e" => Some(Parity::Even),
            "odd" | "o" => Some(Parity::Odd),
            _ => None,
        }
    }

    /// The letter of the usual `8E1` notation.
    pub fn letter(self) -> char {
        match self {
            Parity::None => 'N',
            Parity::Even => 'E',
            Parity::Odd => 'O',
        }
    }
}

/// A serial port and its line settings (Modbus RTU). Every device on one port shares them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SerialLine {
    /// `/dev/ttyUSB0`, `/dev/serial/by-id/...`, `COM3`.
    pub path: String,
    pub baud: u32,
    pub parity: Parity,
    /// Always 8 for RTU (7 is Modbus ASCII); kept so the port is opened as configured.
    pub data_bits: u8,
    pub stop_bits: u8,
}

impl SerialLine {
    /// Bits on the wire per character: start, data, parity, stop.
    pub fn bits_per_char(&self) -> u32 {
        1 + u32::from(self.data_bits)
            + u32::from(self.parity != Parity::None)
            + u32::from(self.stop_bits)
    }

    /// Time of one character on the wire.
    pub fn char_time(&self) -> Duration {
        Duration::from_secs_f64(f64::from(self.bits_per_char()) / f64::from(self.baud.max(1)))
    }

    /// The silent interval that ends an RTU frame (t3.5): 3.5 character times, and a fixed
    /// 1.75 ms above 19200 baud, as the Modbus serial line specification (2.5.1.1) says.
    pub fn frame_gap(&self) -> Duration {
        if self.baud > 19_200 {
            Duration::from_micros(1750)
        } else {
            self.char_time().mul_f64(3.5)
        }
    }

    /// `19200 8E1`, as device manuals write it.
    pub fn settings(&self) -> String {
        format!(
            "{} {}{}{}",
            self.baud,
            self.data_bits,
            self.parity.letter(),
            self.stop_bits
        )
    }
}

/// Mistakes between devices on one serial port, which one device's table cannot see: every
/// device on a port must use the same line settings, and no two may share a unit id. Each
/// mistake is given with the index (in `devices`) of the device it concerns, and the path of the
/// key within that device's table.
pub fn serial_line_mistakes(devices: &[&ModbusDevice]) -> Vec<(usize, PathMistake)> {
    let mut out = Vec::new();
    // First device on each port, and the units seen there.
    let mut ports: BTreeMap<&str, (usize, BTreeSet<u8>)> = BTreeMap::new();
    for (i, d) in devices.iter().enumerate() {
        let Some(line) = &d.serial else { continue };
        let (first, units) = ports
            .entry(line.path.as_str())
            .or_insert((i, BTreeSet::new()));
        let first_device = devices[*first];
        if let Some(first_line) = &first_device.serial
            && first_line != line
        {
            out.push((
                i,
                PathMistake {
                    path: key("serial"),
                    message: format!(
                        "device {:?} uses {} on {}, but device {:?} on the same port uses {}; every device on one port shares its line settings",
                        d.device,
                        line.settings(),
                        line.path,
                        first_device.device,
                        first_line.settings()
                    ),
                },
            ));
        }
        if !units.insert(d.unit) {
            out.push((
                i,
                PathMistake {
                    path: key("unit"),
                    message: format!(
                        "device {:?}: unit {} on {} is already another device's; each slave on a serial line has its own unit id",
                        d.device, d.unit, line.path
                    ),
                },
            ));
        }
    }
    out
}

/// Whether the build can open serial ports (the `rtu` cargo feature).
pub const SERIAL_SUPPORT: bool = cfg!(feature = "rtu");

/// `host` (Modbus TCP) or `serial` and its line settings (Modbus RTU): exactly one of the two.
pub(super) fn validate_link(
    m: &mut Mistakes,
    raw: &RawModbus,
    device: &str,
) -> (String, Option<SerialLine>) {
    let serial_only = [
        ("baud", raw.baud.is_some()),
        ("parity", raw.parity.is_some()),
        ("data_bits", raw.data_bits.is_some()),
        ("stop_bits", raw.stop_bits.is_some()),
    ];
    let path = match (&raw.host, &raw.serial) {
        (Some(host), None) => {
            for (field, set) in serial_only {
                if set {
                    m.at(
                        key(field),
                        format!(
                            "{field} is only for a serial device (serial = \"/dev/ttyUSB0\"), not one at host {host:?}"
                        ),
                    );
                }
            }
            let host = normalise_host(host).unwrap_or_else(|e| {
                m.at(key("host"), e);
                String::new()
            });
            return (host, None);
        }
        (None, None) => {
            m.at(
                key("device"),
                format!(
                    "device {device:?} has neither host (Modbus TCP: host = \"10.0.0.5:502\") nor serial (Modbus RTU: serial = \"/dev/ttyUSB0\"); expected one of them"
                ),
            );
            return (String::new(), None);
        }
        (Some(_), Some(_)) => {
            m.at(
                key("serial"),
                format!(
                    "device {device:?} has both host and serial; a device is either at a host (Modbus TCP) or on a serial line (Modbus RTU), so give one of them"
                ),
            );
            return (String::new(), None);
        }
        (None, Some(path)) => path.trim().to_owned(),
    };
    if path.is_empty() {
        m.at(
            key("serial"),
            "serial is empty; expected the port's path, e.g. \"/dev/ttyUSB0\" or \"COM3\""
                .to_owned(),
        );
    } else if !SERIAL_SUPPORT {
        m.at(
            key("serial"),
            format!(
                "device {device:?} is on serial port {path:?}, but this build has no serial support; build with --features rtu"
            ),
        );
    }
    let baud = match raw.baud {
        None => 19_200,
        Some(b) if (50..=4_000_000).contains(&b) => b as u32,
        Some(b) => {
            m.at(
                key("baud"),
                format!(
                    "baud is {b}; expected a rate such as 9600, 19200 or 115200 (50 to 4000000)"
                ),
            );
            19_200
        }
    };
    let parity = match &raw.parity {
        None => Parity::Even,
        Some(p) => Parity::parse(p).unwrap_or_else(|| {
            m.at(
                key("parity"),
                format!("parity {p:?} is unknown; expected even, odd or none"),
            );
            Parity::Even
        }),
    };
    let data_bits = match raw.data_bits {
        None | Some(8) => 8,
        Some(n) => {
            m.at(
                key("data_bits"),
                format!(
                    "data_bits is {n}; Modbus RTU sends 8 data bits (7 is Modbus ASCII, which is not supported)"
                ),
            );
            8
        }
    };
    let stop_bits = match raw.stop_bits {
        None | Some(1) => 1,
        Some(2) => 2,
        Some(n) => {
            m.at(
                key("stop_bits"),
                format!("stop_bits is {n}; expected 1 or 2 (2 when parity = \"none\", as the Modbus specification asks)"),
            );
            1
        }
    };
    (
        path.clone(),
        Some(SerialLine {
            path,
            baud,
            parity,
            data_bits,
            stop_bits,
        }),
    )
}

pub(super) fn normalise_host(host: &str) -> Result<String, String> {
    let h = host.trim();
    if h.is_empty() {
        return Err("host is empty; expected host:port, e.g. \"10.0.0.5:502\"".to_owned());
    }
    if h.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(h.to_owned());
    }
    if h.parse::<std::net::IpAddr>().is_ok() {
        return Ok(if h.contains(':') {
            format!("[{h}]:502")
        } else {
            format!("{h}:502")
        });
    }
    match h.rsplit_once(':') {
        Some((name, port)) => {
            if name.is_empty() || port.parse::<u16>().is_err() {
                Err(format!(
                    "host {host:?} is not host:port; expected e.g. \"plc-1.local:502\""
                ))
            } else {
                Ok(h.to_owned())
            }
        }
        None => Ok(format!("{h}:502")),
    }
}
