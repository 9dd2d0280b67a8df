"""Schemathesis hooks for the web admin (loaded by tools/schemathesis-check).

A prompt upload's body is `audio/wav`, which Schemathesis cannot make by
itself: it gets short valid WAV files (8 kHz, 16-bit mono, as the box
keeps prompts) and arbitrary bytes, so both the conversion and the
refusal of a bad file are exercised.
"""

import struct

import schemathesis
from hypothesis import strategies as st


def wav(samples: bytes) -> bytes:
    data = samples[: len(samples) // 2 * 2]
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


schemathesis.openapi.media_type(
    "audio/wav",
    st.one_of(
        st.binary(min_size=2, max_size=1600).map(wav),
        st.binary(max_size=256),
    ),
)
