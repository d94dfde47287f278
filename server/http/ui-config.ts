/** What the page needs to know before its first data request (GET /api/ui-config, public). */
export interface UiConfig {
  refresh_seconds: number;
  simulation_enabled: boolean;
  error_rate_threshold: number;
  max_minutes: number;
  /** Whether reading works without a token; if not, the page asks for one. */
  anonymous_read: boolean;
}
