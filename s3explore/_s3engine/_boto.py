"""The boto3 engine: every request through one thread-safe botocore client.

boto3 resolves credentials and settings for every engine; this one also sends the requests,
holding the interpreter lock for about 2 ms of Python per request. It stays for what the
other engines leave to it: multipart uploads and copies with replaced metadata.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from s3explore._s3client import error_code, make_client
from s3explore._s3engine._types import Engine, EngineSettings, ListPage, ObjectInfo


class _BotoDownload:
    def __init__(self, response: dict, key: str) -> None:
        self._stream = response["Body"]
        # a ranged GET's ContentLength is the range's: the object's size ends ContentRange
        total = str(response.get("ContentRange", "")).rpartition("/")[2]
        size = int(total) if total.isdigit() else response.get("ContentLength", 0)
        self.info = ObjectInfo(key, response.get("ETag"), size,
                               response.get("LastModified"), response.get("Metadata", {}))

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(None if size < 0 else size)

    def close(self) -> None:
        self._stream.close()


class BotoEngine(Engine):
    name = "boto3"

    def __init__(self, settings: EngineSettings) -> None:
        super().__init__(settings)
        profile = settings.profile
        self.client = make_client(profile, settings.endpoint_url, settings.pool_size,
                                  settings.anonymous, dict(settings.client_kwargs),
                                  connect_timeout=settings.connect_timeout,
                                  read_timeout=settings.read_timeout)

    def head_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            # HEAD answers a bare 403 for bad keys too; a GET's error body tells them apart.
            if error_code(exc) != "AccessDenied":
                raise
            self.client.list_objects_v2(Bucket=self.bucket, MaxKeys=1)

    def get(self, key: str, byte_range: tuple[int, int] | None = None) -> _BotoDownload:
        extra = {"Range": f"bytes={byte_range[0]}-{byte_range[1]}"} if byte_range else {}
        return _BotoDownload(self.client.get_object(Bucket=self.bucket, Key=key, **extra), key)

    def head(self, key: str) -> ObjectInfo:
        answer = self.client.head_object(Bucket=self.bucket, Key=key)
        return ObjectInfo(key, answer.get("ETag"), answer.get("ContentLength", 0),
                          answer.get("LastModified"), answer.get("Metadata", {}))

    def put(self, key: str, body: bytes, metadata: Mapping[str, str], *,
            if_none_match: bool = False, if_match: str | None = None) -> str | None:
        extra: dict[str, str] = {}
        if if_none_match:
            extra["IfNoneMatch"] = "*"
        if if_match is not None:
            extra["IfMatch"] = if_match
        answer = self.client.put_object(Bucket=self.bucket, Key=key, Body=body,
                                        Metadata=dict(metadata), **extra)
        return answer.get("ETag")

    def put_parts(self, key: str, parts: Any, metadata: Mapping[str, str]) -> str | None:
        client = self.client
        upload_id = client.create_multipart_upload(Bucket=self.bucket, Key=key,
                                                   Metadata=dict(metadata))["UploadId"]
        try:
            done = []
            for number, data in enumerate(parts, 1):
                answer = client.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                            PartNumber=number, Body=data)
                done.append({"PartNumber": number, "ETag": answer["ETag"]})
            return client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": done}).get("ETag")
        except BaseException:
            with contextlib.suppress(Exception):  # the original error matters more
                client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise

    def list(self, prefix: str, *, start_after: str | None = None) -> Iterator[ObjectInfo]:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if start_after:
            kwargs["StartAfter"] = start_after
        while True:
            page = self.client.list_objects_v2(**kwargs)
            for o in page.get("Contents", []):
                yield ObjectInfo(o["Key"], o.get("ETag"), o.get("Size", 0), o.get("LastModified"))
            if not page.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def list_folders(self, prefix: str, max_keys: int = 1000) -> ListPage:
        page = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, Delimiter="/",
                                           MaxKeys=max_keys)
        objects = [ObjectInfo(o["Key"], o.get("ETag"), o.get("Size", 0), o.get("LastModified"))
                   for o in page.get("Contents", [])]
        return ListPage(objects, [p["Prefix"] for p in page.get("CommonPrefixes", [])],
                        page.get("NextContinuationToken") if page.get("IsTruncated") else None)

    def copy(self, key: str, source_key: str, metadata: Mapping[str, str] | None) -> None:
        replace = {} if metadata is None else {"Metadata": dict(metadata),
                                               "MetadataDirective": "REPLACE"}
        self.client.copy_object(Bucket=self.bucket, Key=key,
                                CopySource={"Bucket": self.bucket, "Key": source_key}, **replace)

    def delete(self, keys: Sequence[str]) -> list[str]:
        answer = self.client.delete_objects(
            Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})
        return [e.get("Key", "?") for e in answer.get("Errors", [])]

    def close(self) -> None:
        self.client.close()
