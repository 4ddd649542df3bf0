package org.smipc;

import java.nio.ByteBuffer;

/** Direct buffers for C: the caller's own, or a per-thread scratch one for byte[]. */
final class Buffers {
  private Buffers() {}

  /** A thread keeps its scratch buffer up to this size; larger ones are one-off. */
  private static final int KEEP = 1 << 20;

  private static final ThreadLocal<ByteBuffer> SCRATCH =
      ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(64 << 10));

  /** This thread's scratch buffer, at least n bytes (or a one-off one if n is large). */
  static ByteBuffer scratch(long n, String what) {
    if (n > Integer.MAX_VALUE - 8)
      throw new SmipcException(Status.EMSGSIZE, what + ": " + n + " bytes do not fit in a Java array");
    ByteBuffer b = SCRATCH.get();
    if (b.capacity() < n) {
      b = ByteBuffer.allocateDirect((int) n);
      if (n <= KEEP) SCRATCH.set(b);
    }
    return b.clear();
  }

  /** data in a direct buffer, from its start (one copy, as JNI would make anyway). */
  static ByteBuffer of(byte[] data, String what) {
    return scratch(data.length, what).put(0, data);
  }

  /** The remaining bytes of buf in a direct buffer that starts with them. */
  static ByteBuffer of(ByteBuffer buf, String what) {
    if (!buf.isDirect()) return scratch(buf.remaining(), what).put(0, buf, buf.position(), buf.remaining());
    return buf.position() == 0 ? buf : buf.slice();
  }

  /**
   * Checks C's rc for a receive into at (from into()): ETOOSMALL says how many bytes the
   * message needs (len[0]) and that it stays queued; what: the call.
   */
  static void checkInto(int rc, long[] len, ByteBuffer at, String what) {
    if (rc == Status.ETOOSMALL)
      throw new SmipcException(rc, what + ": " + len[0] + " bytes, room for " + at.remaining(),
          len[0], 0);
    SmipcException.check(rc, what);
  }

  /** The caller's direct buffer from its position on, for C to write into. */
  static ByteBuffer into(ByteBuffer buf) {
    if (!buf.isDirect())
      throw new IllegalArgumentException("recvInto needs a direct ByteBuffer (ByteBuffer.allocateDirect)");
    if (buf.isReadOnly()) throw new java.nio.ReadOnlyBufferException();
    return buf.position() == 0 ? buf : buf.slice();
  }
}
