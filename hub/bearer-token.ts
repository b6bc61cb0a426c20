/** The token of an `Authorization: Bearer <token>` header, or undefined for any other header. */
export function bearerToken(header: string): string | undefined {
  return header.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
}
