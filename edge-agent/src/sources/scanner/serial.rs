//! Serial scanners (RS-232, USB-CDC), with the `serial-scanner` feature. The port is read like
//! a TCP connection (`mod.rs`: the same framing decoder, faults, ack/nak); only opening it
//! differs.

use tokio_serial::{DataBits, FlowControl, Parity, SerialPortBuilderExt, SerialStream, StopBits};

/// Opens `path` at `baud`, 8 data bits, no parity, 1 stop bit, no flow control: the factory
/// setting of nearly every scanner. A USB-CDC scanner ignores the speed.
pub fn open(path: &str, baud: u32) -> Result<SerialStream, String> {
    tokio_serial::new(path, baud)
        .data_bits(DataBits::Eight)
        .parity(Parity::None)
        .stop_bits(StopBits::One)
        .flow_control(FlowControl::None)
        .open_native_async()
        .map_err(|e| format!("cannot open {path} at {baud} baud: {e}"))
}
