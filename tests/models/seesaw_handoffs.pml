/* The hand-offs of the seesaw MQA kernel (kernels/cuda/attention_mqa_seesaw.cu) as a
 * Promela model, checked with spin over every interleaving of the warps: the kernel
 * cannot run here (no GPU) and a wrong hand-off hangs it or corrupts it silently.
 *
 * Each warp is a process (W per warpgroup; the kernel has 4, the model 2, which keeps
 * every skew between the warps of a warpgroup), the copy engine another that lands the
 * warps' loads in any order. Modelled at the level the kernel synchronises on:
 *  - named barriers (bar.sync / bar.arrive with a thread count): a generation completes
 *    when the count has arrived; every arrival of one generation must carry the same
 *    tag (round and use), so a barrier run a round ahead is an assertion failure;
 *  - mbarriers completed by the loads' landing (cp.async .noinc: one arrival per warp),
 *    waited on by parity, so a waiter two phases behind hangs (an invalid end state);
 *  - the shared-memory parts the loads fill (tile A blocks 0-3, 4-7, 8; tile B alike):
 *    a wgmma read holds a part from its issue to the reading warp's own wait (a warp's
 *    wait covers its own share of the product only); a load or a write of P into a part
 *    some warp still reads, or a read of a part that does not yet hold its round's data,
 *    is an assertion failure; so is a read of P before every warp wrote its rows, and a
 *    read of a row maximum or of the tile's key list before its writers wrote them.
 * Not modelled: memory ordering beyond happens-before through the barriers, and the
 * arithmetic. R rounds: the first, a middle one, and the last (no refill).
 *
 * TMA: the seesaw_tma form: warp 0 of the loading warpgroup alone starts a part's
 * boxes (one arrival with the bytes); the key list is still written by every warp.
 * NO_P_BARRIER: without warpgroup 0's barrier before it writes P_A (the race the eighth
 * session fixed); the check must then fail, which shows the model can see it. */

#ifndef W
#define W 2
#endif
#ifndef R
#define R 3
#endif
#define NONE 255
#ifdef TMA
#define SHARES 1
#define LOADS(w) (w == 0)
#else
#define SHARES W
#define LOADS(w) true
#endif

/* named barriers: 0 = __syncthreads, then the kernel's ids */
#define B_ALL 0
#define B_MAX0 1
#define B_MAX1 2
#define B_AFREE 3
#define B_BFREE 4
#define B_WG0 5
#define B_WG1 6
byte bcnt[7];
byte bgen[7];
byte btag[7];
byte bexp[7];

/* mbarriers, and the parts each one's loads fill */
#define M_ALO 0   /* A blocks 0-3 */
#define M_AHI 1   /* A blocks 4-8 */
#define M_BLO 2   /* B blocks 0-3 and 8 */
#define M_BHI 3   /* B blocks 4-7 */
byte mph[4];      /* completed phases */
byte issued[4];   /* warps' loads of the phase in progress started */
byte inflight[4]; /* ... not yet landed */
byte landed[4];
byte lround[4];   /* the round the loads of the phase in progress bring */

#define P_A0 0
#define P_A4 1
#define P_A8 2
#define P_B0 3
#define P_B4 4
#define P_B8 5
byte ver[6];      /* round of the cache rows a part holds (NONE: overwritten by P) */
byte readers[6];  /* wgmma reads issued and not yet waited for */
bool busy[6];     /* a load into it has started and not landed */
byte pver[2];     /* P of tile A (0) / B (1): its round ... */
byte pcnt[2];     /* ... and how many warps wrote their rows */
byte mA[W];       /* row maxima of warpgroup 0's warp w (read by warpgroup 1's warp w) */
byte mB[W];
byte keysA[W];    /* the tile's key list, the share each warp's loader threads write */
byte keysB[W];

inline arrive(id, tag) {
  if
  :: bcnt[id] == 0 -> btag[id] = tag
  :: else -> assert(btag[id] == tag)   /* one generation, one use */
  fi;
  bcnt[id]++;
  if
  :: bcnt[id] == bexp[id] -> bcnt[id] = 0; bgen[id]++
  :: else
  fi
}
inline bar_arrive(id, tag) { atomic { arrive(id, tag) } }
inline bar_sync(id, tag) {
  atomic { g = bgen[id]; arrive(id, tag) };
  (bgen[id] != g)
}

/* try_wait.parity: passes once the phase of that parity has completed; a waiter two
   phases behind would wait for the next phase of that parity instead. */
inline mbar_wait(m, rnd) {
  assert(mph[m] <= rnd + 1);
  (mph[m] % 2 != rnd % 2)
}

inline take(p, rnd) { assert(ver[p] == rnd && !busy[p]); readers[p]++ }
inline take_p(t, p, rnd) { assert(pver[t] == rnd && pcnt[t] == W && !busy[p]); readers[p]++ }

inline start_part(p) { assert(readers[p] == 0); busy[p] = true }
inline load(m, rnd) {
  atomic {
    assert(issued[m] < SHARES);
    if
    :: issued[m] == 0 -> lround[m] = rnd
    :: else -> assert(lround[m] == rnd)
    fi;
    issued[m]++;
    if
    :: m == M_ALO -> start_part(P_A0)
    :: m == M_AHI -> start_part(P_A4); start_part(P_A8)
    :: m == M_BLO -> start_part(P_B0); start_part(P_B8)
    :: m == M_BHI -> start_part(P_B4)
    fi;
    inflight[m]++
  }
}

inline write_p(t, p, rnd) {
  atomic {
    assert(readers[p] == 0 && !busy[p]);  /* no warp still reads the rope columns */
    ver[p] = NONE;
    if
    :: pver[t] != rnd -> pver[t] = rnd; pcnt[t] = 1
    :: else -> pcnt[t]++
    fi
  }
}

inline all_keys(t, rnd) {  /* t 0: tile A's key list, 1: tile B's */
  i = 0;
  do
  :: i < W -> assert((t == 0 -> keysA[i] : keysB[i]) == rnd); i++
  :: else -> break
  od
}

inline finish(p, r2) { ver[p] = r2; busy[p] = false }
inline land(m) {
  inflight[m]--;
  landed[m]++;
  if
  :: landed[m] == SHARES ->
     landed[m] = 0;
     issued[m] = 0;
     if
     :: m == M_ALO -> finish(P_A0, lround[m])
     :: m == M_AHI -> finish(P_A4, lround[m]); finish(P_A8, lround[m]); pver[0] = NONE
     :: m == M_BLO -> finish(P_B0, lround[m]); finish(P_B8, lround[m]); pver[1] = NONE
     :: m == M_BHI -> finish(P_B4, lround[m])
     fi;
     mph[m]++
  :: else
  fi
}

active proctype copy_engine() {
end:
  do
  :: atomic { inflight[M_ALO] > 0 -> land(M_ALO) }
  :: atomic { inflight[M_AHI] > 0 -> land(M_AHI) }
  :: atomic { inflight[M_BLO] > 0 -> land(M_BLO) }
  :: atomic { inflight[M_BHI] > 0 -> land(M_BHI) }
  od
}

/* tags: round * 8 + use, so two uses of one barrier in a round differ */
proctype wg0(byte w) {
  byte r, g, i;
  /* prologue: this warpgroup loads round 0's A 0-3 (with the key list) and B 0-3, 8 */
  keysA[w] = 0;
  if :: LOADS(w) -> load(M_ALO, 0) :: else fi;
  if :: LOADS(w) -> load(M_BLO, 0) :: else fi;
  bar_sync(B_ALL, 250);
  r = 0;
  do
  :: r < R ->
     /* S_A: blocks 0-3 once in, then 4-8 */
     mbar_wait(M_ALO, r);
     atomic { take(P_A0, r) };
     mbar_wait(M_AHI, r);
     atomic { take(P_A4, r); take(P_A8, r) };
     atomic { readers[P_A0]--; readers[P_A4]--; readers[P_A8]-- };  /* this warp's wgmma wait */
     all_keys(0, r);        /* mask_and_max */
     mA[w] = r;                 /* xmax: mA of this warp's rows */
#ifndef NO_P_BARRIER
     bar_sync(B_WG0, r * 8);    /* every warp's S_A is done with block 8 */
#endif
     write_p(0, P_A8, r);
     bar_arrive(B_MAX0, r * 8);
     bar_sync(B_WG0, r * 8 + 1);  /* all of P_A is written */
     /* O_L += P_A V_A,L */
     atomic { take_p(0, P_A8, r); take(P_A0, r) };
     atomic { readers[P_A8]--; readers[P_A0]-- };
     if
     :: r + 1 < R ->
        bar_sync(B_WG0, r * 8 + 2);
        bar_arrive(B_AFREE, r * 8);
        keysA[w] = r + 1;
        if :: LOADS(w) -> load(M_ALO, r + 1) :: else fi
     :: else
     fi;
     bar_sync(B_MAX1, r * 8);
     assert(mB[w] == r);        /* mB from warpgroup 1 */
     mbar_wait(M_BLO, r);
     /* O_L += P_B V_B,L */
     atomic { take_p(1, P_B8, r); take(P_B0, r) };
     atomic { readers[P_B8]--; readers[P_B0]-- };
     if
     :: r + 1 < R ->
        bar_sync(B_BFREE, r * 8);
        if :: LOADS(w) -> load(M_BLO, r + 1) :: else fi
     :: else
     fi;
     r++
  :: else -> break
  od;
  bar_sync(B_ALL, 251)          /* the epilogue's exchange of row sums */
}

proctype wg1(byte w) {
  byte r, g, i;
  /* prologue: A 4-8 and B 4-7 (with the key list) of round 0 */
  if :: LOADS(w) -> load(M_AHI, 0) :: else fi;
  keysB[w] = 0;
  if :: LOADS(w) -> load(M_BHI, 0) :: else fi;
  bar_sync(B_ALL, 250);
  r = 0;
  do
  :: r < R ->
     /* S_B: blocks 4-7 first, then 0-3 and 8 */
     mbar_wait(M_BHI, r);
     atomic { take(P_B4, r) };
     mbar_wait(M_BLO, r);
     atomic { take(P_B0, r); take(P_B8, r) };
     atomic { readers[P_B4]--; readers[P_B0]--; readers[P_B8]-- };
     bar_sync(B_MAX0, r * 8);   /* mA and P_A from warpgroup 0 */
     all_keys(1, r);
     assert(mA[w] == r);
     mbar_wait(M_AHI, r);
     /* O_R += P_A V_A,R issued; the softmax of S_B runs under it */
     atomic { take_p(0, P_A8, r); take(P_A4, r) };
     mB[w] = r;
     write_p(1, P_B8, r);
     bar_arrive(B_MAX1, r * 8);
     atomic { readers[P_A8]--; readers[P_A4]-- };  /* wgmma wait */
     bar_sync(B_WG1, r * 8);    /* all of P_B is written; every warp is past P_A V_A,R */
     if
     :: r + 1 < R ->
        bar_sync(B_AFREE, r * 8);
        if :: LOADS(w) -> load(M_AHI, r + 1) :: else fi
     :: else
     fi;
     /* O_R += P_B V_B,R */
     atomic { take_p(1, P_B8, r); take(P_B4, r) };
     atomic { readers[P_B8]--; readers[P_B4]-- };
     if
     :: r + 1 < R ->
        bar_sync(B_WG1, r * 8 + 1);
        bar_arrive(B_BFREE, r * 8);
        keysB[w] = r + 1;
        if :: LOADS(w) -> load(M_BHI, r + 1) :: else fi
     :: else
     fi;
     r++
  :: else -> break
  od;
  bar_sync(B_ALL, 251)
}

init {
  byte k;
  atomic {
    bexp[B_ALL] = 2 * W; bexp[B_MAX0] = 2 * W; bexp[B_MAX1] = 2 * W;
    bexp[B_AFREE] = 2 * W; bexp[B_BFREE] = 2 * W; bexp[B_WG0] = W; bexp[B_WG1] = W;
    k = 0;
    do
    :: k < 6 -> ver[k] = NONE; k++
    :: else -> break
    od;
    pver[0] = NONE; pver[1] = NONE;
    k = 0;
    do
    :: k < W -> keysA[k] = NONE; keysB[k] = NONE; mA[k] = NONE; mB[k] = NONE; run wg0(k); run wg1(k); k++
    :: else -> break
    od
  }
}
