package dev.burrow.core.testing;

import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

import dev.burrow.core.store.ApiKeyStore;

/** API keys by id; an upsert of an id replaces its hash (rotation), as the SQL store does. */
public final class InMemoryApiKeyStore implements ApiKeyStore {
    private final Map<String, ApiKey> byId = new ConcurrentHashMap<>();

    @Override
    public void upsert(ApiKey key) {
        byId.put(key.id(), key);
    }

    @Override
    public Optional<ApiKey> findByHash(String sha256) {
        return byId.values().stream().filter(k -> k.sha256().equals(sha256)).findFirst();
    }
}
