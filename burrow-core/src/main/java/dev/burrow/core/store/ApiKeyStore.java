package dev.burrow.core.store;

import java.util.Optional;

/** API keys, stored only as SHA-256 hashes of the secret. */
public interface ApiKeyStore {
    record ApiKey(String id, String name, String sha256, boolean admin) { }

    void upsert(ApiKey key);

    Optional<ApiKey> findByHash(String sha256);
}
