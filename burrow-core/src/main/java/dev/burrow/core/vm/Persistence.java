package dev.burrow.core.vm;

import java.util.Locale;

/**
 * Freestyle persistence: {@code sticky} VMs are kept until storage pressure evicts them (lowest
 * {@code priority} first, then least recently used), {@code ephemeral} ones are deleted when the
 * {@code deleteEvent} happens (OnStop or OnSuspend), {@code persistent} ones are never evicted.
 */
public record Persistence(Type type, int priority, DeleteEvent deleteEvent) {
    public enum Type { STICKY, EPHEMERAL, PERSISTENT }

    public enum DeleteEvent { ON_STOP, ON_SUSPEND }

    public static final int DEFAULT_PRIORITY = 5;
    public static final Persistence DEFAULT = new Persistence(Type.STICKY, DEFAULT_PRIORITY, null);

    public Persistence {
        if (type == null) type = Type.STICKY;
        if (priority < 0 || priority > 10) throw new IllegalArgumentException("priority must be 0..10");
        if (type == Type.EPHEMERAL && deleteEvent == null) deleteEvent = DeleteEvent.ON_STOP;
        if (type != Type.EPHEMERAL) deleteEvent = null;
    }

    public String wireType() {
        return type.name().toLowerCase(Locale.ROOT);
    }

    public String wireDeleteEvent() {
        if (deleteEvent == null) return null;
        return deleteEvent == DeleteEvent.ON_STOP ? "OnStop" : "OnSuspend";
    }
}
