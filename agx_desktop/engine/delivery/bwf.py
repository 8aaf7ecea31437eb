"""Broadcast WAVE: a WAV file with the ``bext`` and ``iXML`` chunks that sound libraries read.

Soundminer, BaseHead, REAPER's media explorer and most DAWs read a file's description, origin and
category from the BWF ``bext`` chunk (EBU Tech 3285 v2) and from ``iXML``; a RIFF LIST/INFO chunk
alone leaves them with the file name. libsndfile (soundfile) encodes the samples, the format chunk
and LIST/INFO; here the file is re-assembled as ``RIFF WAVE: bext, fmt, [fact], data, LIST, iXML``.
libsndfile's optional ``PEAK`` chunk is dropped: it holds the wall-clock time of writing, and the
same export must give the same bytes from the app and from ``agx export``.
"""
from __future__ import annotations

import io
import struct
import typing as tp
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import numpy as np

SUBTYPES = {"PCM_16": "16-bit PCM", "PCM_24": "24-bit PCM", "FLOAT": "32-bit float"}
BITS = {"PCM_16": 16, "PCM_24": 24, "FLOAT": 32}
#: bext's text fields are ASCII (EBU Tech 3285); the full UTF-8 text goes to iXML.
_BEXT_TEXT = (("description", 256), ("originator", 32), ("originator_ref", 32), ("date", 10), ("time", 8))
_UNSET = 0x7FFF  # a bext v2 loudness field with no value


def ascii_text(text: str, limit: int) -> bytes:
    """``text`` as at most ``limit`` ASCII bytes: accents dropped (é -> e), other characters as '?'."""
    out = []
    for c in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(c):
            continue
        out.append(c if 32 <= ord(c) < 127 or c in "\r\n" else "?" if ord(c) >= 127 else " ")
    return "".join(out)[:limit].encode("ascii")


def _centi(value: float | None) -> int:
    """A loudness/peak value for bext v2 (hundredths, int16), or the 'not set' code."""
    if value is None or not np.isfinite(value):
        return _UNSET
    return int(max(-32768, min(32766, round(value * 100))))


@dataclass(frozen=True)
class Bext:
    """The fields of a ``bext`` chunk (version 2: with the loudness of the file as written)."""

    description: str
    originator: str
    originator_ref: str
    date: str             # YYYY-MM-DD
    time: str             # HH:MM:SS
    coding_history: str   # CR/LF-terminated lines "A=PCM,F=48000,W=24,M=mono,T=..."
    time_reference: int = 0
    loudness: float | None = None        # integrated LUFS
    loudness_range: float | None = None  # LU
    true_peak: float | None = None       # dBTP
    max_momentary: float | None = None   # LUFS
    max_short_term: float | None = None  # LUFS

    def to_bytes(self) -> bytes:
        head = b"".join(ascii_text(getattr(self, name), size).ljust(size, b"\0") for name, size in _BEXT_TEXT)
        head += struct.pack("<QH", int(self.time_reference), 2) + b"\0" * 64
        head += struct.pack("<5h", *(_centi(v) for v in (self.loudness, self.loudness_range, self.true_peak,
                                                          self.max_momentary, self.max_short_term)))
        head += b"\0" * 180
        return head + ascii_text(self.coding_history, 1 << 20)


@dataclass
class IXml:
    """An ``iXML`` document: UCS fields in the Soundminer-style USER block and the ASWG block, and the
    generation parameters in an AGX block."""

    project: str
    note: str
    channels: int
    ucs: dict[str, str] = field(default_factory=dict)       # CatID, Category, ... (UCS names)
    generation: dict[str, tp.Any] = field(default_factory=dict)

    #: UCS name -> (USER tag, ASWG tag or None)
    TAGS: tp.ClassVar[dict[str, tuple[str, str | None]]] = {
        "CatID": ("CATID", "catId"), "Category": ("CATEGORY", "category"),
        "SubCategory": ("SUBCATEGORY", "subCategory"), "CategoryFull": ("CATEGORYFULL", None),
        "FXName": ("FXNAME", "fxName"), "CreatorID": ("CREATORID", "creatorId"),
        "SourceID": ("SOURCEID", "sourceId"), "Description": ("DESCRIPTION", "notes"),
        "Keywords": ("KEYWORDS", None), "Designer": ("DESIGNER", None), "Library": ("LIBRARY", "library"),
    }

    def to_bytes(self) -> bytes:
        root = ET.Element("BWFXML")
        ET.SubElement(root, "IXML_VERSION").text = "2.10"
        ET.SubElement(root, "PROJECT").text = self.project
        ET.SubElement(root, "NOTE").text = self.note
        tracks = ET.SubElement(root, "TRACK_LIST")
        ET.SubElement(tracks, "TRACK_COUNT").text = str(self.channels)
        for i in range(self.channels):
            track = ET.SubElement(tracks, "TRACK")
            ET.SubElement(track, "CHANNEL_INDEX").text = str(i + 1)
            ET.SubElement(track, "INTERLEAVE_INDEX").text = str(i + 1)
            ET.SubElement(track, "NAME").text = "Mono" if self.channels == 1 else ("L", "R")[i] if self.channels == 2 \
                else f"Ch{i + 1}"
        user = ET.SubElement(root, "USER")
        aswg = ET.SubElement(root, "ASWG")
        for name, value in self.ucs.items():
            if not value:
                continue
            user_tag, aswg_tag = self.TAGS[name]
            ET.SubElement(user, user_tag).text = value
            if aswg_tag:
                ET.SubElement(aswg, aswg_tag).text = value
        agx = ET.SubElement(root, "AGX")
        for key, value in self.generation.items():
            ET.SubElement(agx, key.upper()).text = "" if value is None else str(value)
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The (id, payload) chunks of a RIFF/WAVE file, in order."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    out, pos = [], 12
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        out.append((cid, data[pos + 8:pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return out


def assemble(parts: tp.Sequence[tuple[bytes, bytes]]) -> bytes:
    """A RIFF/WAVE file from (id, payload) chunks (odd sizes padded, as RIFF wants)."""
    body = b"".join(cid + struct.pack("<I", len(p)) + p + (b"\0" if len(p) & 1 else b"") for cid, p in parts)
    if len(body) + 4 > 0xFFFFFFFF:
        raise ValueError("the audio is too long for a WAV file (4 GiB)")
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WAVE" + body


def encode(audio: np.ndarray, sr: int, subtype: str, info: dict[str, str], bext: Bext, ixml: IXml) -> bytes:
    """[channels, samples] float audio as a Broadcast WAVE file (bytes)."""
    import soundfile as sf
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", samplerate=int(sr), channels=int(audio.shape[0]), subtype=subtype,
                      format="WAV") as f:
        for key, value in info.items():
            if value:
                setattr(f, key, value)
        f.write(np.ascontiguousarray(np.asarray(audio, dtype=np.float32).T))
    parts = [(cid, p) for cid, p in chunks(buf.getvalue()) if cid != b"PEAK"]
    fmt = [c for c in parts if c[0] in (b"fmt ", b"fact")]
    data = [c for c in parts if c[0] == b"data"]
    rest = [c for c in parts if c[0] not in (b"fmt ", b"fact", b"data")]
    return assemble([(b"bext", bext.to_bytes()), *fmt, *data, *rest, (b"iXML", ixml.to_bytes())])


__all__ = ["SUBTYPES", "BITS", "Bext", "IXml", "chunks", "assemble", "encode", "ascii_text"]
