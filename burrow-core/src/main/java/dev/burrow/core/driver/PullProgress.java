package dev.burrow.core.driver;

/**
 * How far fetching an image has come, measured on the host: {@code bytesTotal} is the sum of the layer sizes
 * the manifest declares, {@code bytesDone} what the fetch has written so far, layers counted the same way.
 * -1 where the source does not tell (a local layout, a builtin image built on the host).
 */
public record PullProgress(String phase, long bytesDone, long bytesTotal, int layersDone, int layersTotal) {
    public static PullProgress of(String phase) {
        return new PullProgress(phase, -1, -1, -1, -1);
    }

    public PullProgress withPhase(String next) {
        return new PullProgress(next, bytesDone, bytesTotal, layersDone, layersTotal);
    }
}
