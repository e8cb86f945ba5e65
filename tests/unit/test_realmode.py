"""Real-mode addressing and the IVT (SDM Vol. 3A §21.1.1, §21.1.4)."""

import struct

import pytest
from hypothesis import given, settings, strategies as st

from fjgdb.decoders.errors import DecodeError
from fjgdb.decoders.realmode import decode_ivt, linear
from fjgdb.render.realmode import format_ivt, format_segoff


def test_linear_and_format():
    assert linear(0xF000, 0xFFF0) == 0xFFFF0      # reset vector
    assert linear(0x07C0, 0) == 0x7C00
    assert linear(0xFFFF, 0xFFFF) == 0x10FFEF       # HMA top, A20 on
    assert linear(0xFFFF, 0x0010, a20=False) == 0   # wraps with A20 off
    assert format_segoff(0xF000, 0xFFF0) == "f000:fff0"
    with pytest.raises(DecodeError):
        linear(0x10000, 0)


def test_decode_ivt():
    # Vector 0: offset first (0xff53), then segment (0xf000) -> f000:ff53.
    data = struct.pack("<HH", 0xFF53, 0xF000) + struct.pack("<HH", 0x1234,
                                                             0x0070)
    e = decode_ivt(data)
    assert len(e) == 2
    assert (e[0].vector, e[0].segment, e[0].offset, e[0].linear) == \
        (0, 0xF000, 0xFF53, 0xFFF53)
    assert str(e[1]) == "0070:1234" and e[1].linear == 0x1934
    text = format_ivt(e, symbolize=lambda a: "bios" if a == 0xFFF53 else None)
    assert "f000:ff53" in text and "bios" in text
    assert len(decode_ivt(bytes(1024))) == 256
    with pytest.raises(DecodeError):
        decode_ivt(bytes(5))
    with pytest.raises(DecodeError):
        decode_ivt(bytes(1028))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=1100))
def test_decode_ivt_random(data):
    try:
        entries = decode_ivt(data)
    except DecodeError:
        return
    assert len(entries) == len(data) // 4
