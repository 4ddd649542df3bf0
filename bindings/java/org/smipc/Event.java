package org.smipc;

/**
 * What {@link Server#recvEvent} found: a message, or (on a server whose {@link
 * ServerConfig#setEvents} is on) a client joining or leaving. Each client's join comes
 * before any of its messages, and its departure after the last of them.
 *
 * @param kind what happened
 * @param client the client it happened to (as {@link Client#id()} says there)
 * @param data the whole message for {@link Kind#MESSAGE}; empty for a join or a departure
 */
public record Event(Kind kind, long client, byte[] data) {
  /** What an {@link Event} tells. */
  public enum Kind {
    /** A message from {@link Event#client()}, in {@link Event#data()}. */
    MESSAGE,
    /** The client connected. */
    JOINED,
    /** The client is gone: it closed, died or was dropped. */
    LEFT;

    static Kind of(int kind) {
      if (kind == EventKind.EVENT_JOINED) return JOINED;
      if (kind == EventKind.EVENT_LEFT) return LEFT;
      return MESSAGE;
    }
  }
}
