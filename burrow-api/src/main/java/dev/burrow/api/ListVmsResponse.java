package dev.burrow.api;

import java.util.List;

public record ListVmsResponse(List<VmInfo> vms, int totalCount, int runningCount, int startingCount,
                              int suspendedCount, int stoppedCount) {
}
