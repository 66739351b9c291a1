"""A pymodbus TCP server: a third-party Modbus peer for edge-agent's integration tests.

Binds 127.0.0.1:0, prints `listening PORT` once it accepts connections, and serves a fixed
register map until its standard input closes (so it never outlives the test that started it).

Holding registers (protocol address: value):
  0: 1234 (u16)            1-2: -5 as i32, words swapped (CDAB)
  3-4: 21.5 as f32 (ABCD)  5-7: "PRESS1" (string, 6 chars)
  10: 65534 (a counter about to roll over)
Coils: 0: on, 1: off
"""

import asyncio
import struct
import sys

from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
)
from pymodbus.server import ModbusTcpServer


def registers():
    regs = [0] * 32
    regs[0] = 1234
    hi, lo = struct.unpack(">HH", struct.pack(">i", -5))
    regs[1], regs[2] = lo, hi
    regs[3], regs[4] = struct.unpack(">HH", struct.pack(">f", 21.5))
    text = b"PRESS1"
    for i in range(3):
        regs[5 + i] = text[2 * i] << 8 | text[2 * i + 1]
    regs[10] = 65534
    return regs


async def main():
    # pymodbus maps protocol address N to block index N + 1, so the blocks start at 1.
    device = ModbusDeviceContext(
        hr=ModbusSequentialDataBlock(1, registers()),
        co=ModbusSequentialDataBlock(1, [True, False] + [False] * 14),
        di=ModbusSequentialDataBlock(1, [False] * 16),
        ir=ModbusSequentialDataBlock(1, [0] * 16),
    )
    context = ModbusServerContext(devices=device, single=True)
    server = ModbusTcpServer(context, address=("127.0.0.1", 0))
    task = asyncio.create_task(server.serve_forever())
    for _ in range(500):
        listener = getattr(server, "transport", None)
        sockets = getattr(listener, "sockets", None) if listener else None
        if sockets:
            break
        await asyncio.sleep(0.01)
    else:
        print("error: the server did not start listening", flush=True)
        sys.exit(2)
    print(f"listening {sockets[0].getsockname()[1]}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await server.shutdown()
    task.cancel()


if __name__ == "__main__":
    asyncio.run(main())
