package dev.burrow.core.process;

/**
 * One output stream of a process, kept in a bounded ring and addressed by absolute byte offsets: offset 0 is the
 * first byte the process ever wrote, {@link #end()} the next one it will write. When more than the capacity has
 * been written the oldest bytes are dropped, and {@link #start()} is the first offset still held. A reader keeps
 * its own offset, so any number of readers (and a reconnecting one) read exactly the bytes they have not seen.
 * Changes are announced on the owner's {@link ChangeSignal}.
 */
public final class OutputBuffer {
    /** Bytes read from {@code offset}; {@code offset} is past the requested one when older bytes were dropped. */
    public record Chunk(long offset, byte[] data) {
        public long next() {
            return offset + data.length;
        }
    }

    private final byte[] ring;
    private final ChangeSignal signal;
    private long end;
    private boolean closed;

    public OutputBuffer(int capacity, ChangeSignal signal) {
        if (capacity <= 0) throw new IllegalArgumentException("capacity must be positive");
        this.ring = new byte[capacity];
        this.signal = signal;
    }

    public int capacity() {
        return ring.length;
    }

    /** Appends bytes (ignored once closed). */
    public void append(byte[] b, int off, int len) {
        if (len <= 0) return;
        synchronized (this) {
            if (closed) return;
            int cap = ring.length;
            if (len >= cap) { // only the last 'cap' bytes survive
                off += len - cap;
                end += len - cap;
                len = cap;
            }
            int pos = (int) (end % cap);
            int first = Math.min(len, cap - pos);
            System.arraycopy(b, off, ring, pos, first);
            if (first < len) System.arraycopy(b, off + first, ring, 0, len - first);
            end += len;
        }
        signal.changed();
    }

    /** No more bytes will come. */
    public void close() {
        synchronized (this) {
            if (closed) return;
            closed = true;
        }
        signal.changed();
    }

    public synchronized boolean closed() {
        return closed;
    }

    /** Offset of the oldest byte still held. */
    public synchronized long start() {
        return Math.max(0, end - ring.length);
    }

    /** Total bytes written so far (the offset of the next byte). */
    public synchronized long end() {
        return end;
    }

    /**
     * Up to {@code max} bytes from {@code from} (a negative {@code from} means the oldest held byte). A {@code from}
     * beyond {@link #end()} reads nothing at {@link #end()}.
     */
    public synchronized Chunk read(long from, int max) {
        long start = Math.max(0, end - ring.length);
        long at = from < start ? start : Math.min(from, end);
        int n = (int) Math.min(Math.max(0, max), end - at);
        byte[] out = new byte[n];
        int cap = ring.length;
        int pos = (int) (at % cap);
        int first = Math.min(n, cap - pos);
        System.arraycopy(ring, pos, out, 0, first);
        if (first < n) System.arraycopy(ring, 0, out, first, n - first);
        return new Chunk(at, out);
    }
}
