// Address helpers shared by the core and the bridge.

/** Loopback in every spelling a listener or a peer address may have. */
export function isLoopback(address: string): boolean {
  return (
    address === "localhost" || address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.")
  );
}
