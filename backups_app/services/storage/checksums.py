"""The SHA-256 an S3 store keeps of an object, worked out here from the file before it is sent.

An upload asks the store to keep a SHA-256 of its own (S3's additional
checksums, ChecksumAlgorithm SHA256): boto3 sends the digest of every
request body, a store that supports them refuses a body that does not
match (BadDigest), keeps the digest, and reports it on HEAD or GET with
ChecksumMode ENABLED. One request's object has the sha256 of the whole
file; a multipart upload's has the sha256 of its parts' digests, "-N" for
N parts (S3's "composite" checksum), computed here with the part size
boto3's managed transfer will use, so that what the store reports can be
compared with the file, not with what the uploader wrote in the metadata.
"""

import base64
import hashlib
from pathlib import Path

from backups_app.services.storage import files

ALGORITHM = "SHA256"


def part_size(size: int, *, threshold: int, chunk: int) -> int | None:
    """The part size of boto3's upload of a file of `size` bytes; None when it goes in one request."""
    from s3transfer.utils import ChunksizeAdjuster

    if size < threshold:
        return None
    return ChunksizeAdjuster().adjust_chunksize(chunk, size)  # at most 10,000 parts, each 5 MiB to 5 GiB


def of_file(path: Path, *, part: int | None) -> str:
    """The checksum the store reports for this file: base64 of its sha256, or of its parts' ("-N") when in parts."""
    return read(path, part=part)[0]


def read(path: Path, *, part: int | None) -> tuple[str, str]:
    """(the checksum the store reports for this file, its whole sha256 in hex), in one read of it."""
    whole = hashlib.sha256()
    parts, current, left = [], hashlib.sha256(), part or 0
    with open(path, "rb") as f:
        while chunk := f.read(files.CHUNK):
            whole.update(chunk)
            view = memoryview(chunk)  # slices of a view copy nothing
            while part and view:
                piece, view = view[:left], view[left:]
                current.update(piece)
                left -= len(piece)
                if left == 0:
                    parts.append(current.digest())
                    current, left = hashlib.sha256(), part
    if not part:
        return _b64(whole.digest()), whole.hexdigest()
    if left != part or not parts:
        parts.append(current.digest())
    return f"{_b64(hashlib.sha256(b''.join(parts)).digest())}-{len(parts)}", whole.hexdigest()


def of_sha256(hexdigest: str) -> str:
    """A whole file's sha256 (hex, as records keep it) as a store reports one: base64."""
    return _b64(bytes.fromhex(hexdigest))


def same(reported: str, expected: str) -> bool:
    """Does the store's checksum say the same as ours? Some stores leave out the "-N" of a composite one."""
    value, _, count = reported.partition("-")
    ours, _, our_count = expected.partition("-")
    return value == ours and (not count or count == our_count)


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()
