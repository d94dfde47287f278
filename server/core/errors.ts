/**
 * An error meant for the caller: a stable `code` to branch on, an HTTP status, and a
 * message that says what is wrong and what to do about it.
 */
export class AppError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'AppError';
  }
}
