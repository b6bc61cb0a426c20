/** A token the hub refuses; `message` is safe to send to the client. */
export class AuthError extends Error {
  override readonly name = 'AuthError';
}
