package dev.burrow.server.cli;

import picocli.CommandLine.Command;

/** {@code burrow bench …}: measured comparisons (figures for issue notes, never asserted in tests). */
@Command(name = "bench", description = "Benchmarks.", subcommands = {CreateExecBench.class, SnapshotForkBench.class, ScaleBench.class})
public final class BenchCommand implements Runnable {
    @Override
    public void run() {
        picocli.CommandLine.usage(this, System.out);
    }
}
