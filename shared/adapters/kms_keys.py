"""Cloud KMS as the key-encryption key of shared.payments.vault: data keys are wrapped with `encrypt`
and unwrapped with `decrypt` of one symmetric key (terraform/modules/keys: one key per topology
`kms.keys` entry, PAYMENTS_KMS_KEY for account numbers, WEBHOOKS_KMS_KEY for webhook secrets), the
record id as additional authenticated data. IAM is per key and function (topology cloud.access.kms):
api may only encrypt account numbers and only payments may decrypt them; webhook secrets are
encrypted and decrypted by api, decrypted by webhooks. Every call is in Cloud Audit Logs. KMS picks
the primary key version to encrypt and finds the version from the ciphertext to decrypt, so a
rotation needs no change here."""

from __future__ import annotations

from google.cloud import kms


class KmsKeyWrapper:
    def __init__(self, key_name: str, client: kms.KeyManagementServiceClient | None = None):
        # projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>
        parts = key_name.split("/")
        if len(parts) != 8 or parts[0] != "projects" or parts[6] != "cryptoKeys":
            raise ValueError(f"not a KMS crypto key name: {key_name!r}")
        self.key_name = key_name
        self.key_id = f"kms-{parts[5]}-{parts[7]}"
        self._client = client or kms.KeyManagementServiceClient()

    def wrap(self, data_key: bytes, aad: bytes) -> bytes:
        response = self._client.encrypt(
            request={"name": self.key_name, "plaintext": data_key, "additional_authenticated_data": aad}
        )
        return response.ciphertext

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        response = self._client.decrypt(
            request={"name": self.key_name, "ciphertext": wrapped, "additional_authenticated_data": aad}
        )
        return response.plaintext
