"""Read a SentencePiece ``tokenizer.model`` (a ModelProto) without protobuf or sentencepiece.

Only what conversion needs: each piece with its score and type (the Python sentencepiece API
cannot tell user-defined pieces, which llama.cpp must match whole), and the normalizer flags
(Gemma's model adds no dummy-prefix space; Llama's does). The protobuf wire format is small:
tag varints, then a varint, a fixed 32/64-bit value or a length-delimited payload.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# ModelProto.SentencePiece.Type values; they equal llama.cpp's (and gguf-py's) token types.
PIECE_NORMAL = 1


@dataclass(frozen=True)
class SpmModel:
    pieces: list[str]
    scores: list[float]
    types: list[int]
    add_dummy_prefix: bool
    remove_extra_whitespaces: bool


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _fields(data: bytes):
    """Yield (field number, wire type, value) of one message; length-delimited values as bytes."""
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > len(data):
            raise ValueError("truncated field")
        yield number, wire, value


def read_spm_model(data: bytes) -> SpmModel:
    pieces, scores, types = [], [], []
    flags = {3: True, 4: True}  # NormalizerSpec: add_dummy_prefix, remove_extra_whitespaces (proto defaults)
    for number, wire, value in _fields(data):
        if number == 1 and wire == 2:
            piece, score, kind = "", 0.0, PIECE_NORMAL
            for n, w, v in _fields(value):
                if n == 1 and w == 2:
                    piece = v.decode("utf-8")
                elif n == 2 and w == 5:
                    score = struct.unpack("<f", v)[0]
                elif n == 3 and w == 0:
                    kind = v
            pieces.append(piece)
            scores.append(score)
            types.append(kind)
        elif number == 3 and wire == 2:
            for n, w, v in _fields(value):
                if n in flags and w == 0:
                    flags[n] = bool(v)
    if not pieces:
        raise ValueError("no pieces")
    return SpmModel(pieces, scores, types, flags[3], flags[4])
