export type WorkerStatus = "idle" | "busy" | "unknown";

/** A runner as the store sees it, kept current by dequeues and heartbeats. */
export interface Worker {
  workerId: string;
  status: WorkerStatus;
  heartbeatStats: Record<string, unknown> | null;
  lastHeartbeatTime: number | null;
  lastDequeueTime: number | null;
  lastBusyTime: number | null;
  lastIdleTime: number | null;
  currentRolloutId: string | null;
  currentAttemptId: string | null;
}

export interface WorkerUpdate {
  status?: WorkerStatus;
  heartbeatStats?: Record<string, unknown> | null;
  currentRolloutId?: string | null;
  currentAttemptId?: string | null;
}
