;; The row loop of `copy-text-murmur3-sum64-v4` (lib/pg/copy-row-hash.ts): every line of COPY text in
;; memory[start, end) hashed with MurmurHash3_x86_128 (seed 0, the first 64 bits of its output) and the
;; hashes summed modulo 2^64. One call per chunk instead of one JavaScript call per row: the same
;; arithmetic as the TypeScript reference `murmur3x86x128First64`, which tests hold it to.
;;
;; Compiled by `npm run build:row-hash` (wabt) into copy-row-hash-wasm.ts; a test compiles it again
;; and compares the bytes, so the shipped binary is this text.
;;
;; The caller leaves at least 16 readable bytes after `end` (the newline search reads 16 at a time, and
;; a row's last bytes are read as whole words and masked).
(module
  (memory (export "memory") 1)
  ;; What the last call of `hashLines` found: rows hashed, their sum, and whether it stopped at the
  ;; end-of-data line (`\.`) of a pg_dump archive's data block.
  (global $rows (export "rows") (mut i32) (i32.const 0))
  (global $sum (export "sum") (mut i64) (i64.const 0))
  (global $stopped (export "stopped") (mut i32) (i32.const 0))
  ;; What the last call of `compactCopyData` left: the end of the rows' text it gathered, and the type of
  ;; the message it stopped at (0: it stopped at a message not yet whole).
  (global $textEnd (export "textEnd") (mut i32) (i32.const 0))
  (global $stopType (export "stopType") (mut i32) (i32.const 0))

  (func $fmix32 (param $h i32) (result i32)
    (local.set $h (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16))))
    (local.set $h (i32.mul (local.get $h) (i32.const 0x85ebca6b)))
    (local.set $h (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 13))))
    (local.set $h (i32.mul (local.get $h) (i32.const 0xc2b2ae35)))
    (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16))))

  ;; The low `n` bytes (0 to 4) of the word at `p`, the others zero.
  (func $partialWord (param $p i32) (param $n i32) (result i32)
    (if (i32.le_s (local.get $n) (i32.const 0)) (then (return (i32.const 0))))
    (i32.and
      (i32.load align=1 (local.get $p))
      (i32.wrap_i64
        (i64.sub
          (i64.shl (i64.const 1) (i64.extend_i32_u (i32.shl (local.get $n) (i32.const 3))))
          (i64.const 1)))))

  (func $min4 (param $n i32) (result i32)
    (select (i32.const 4) (local.get $n) (i32.gt_s (local.get $n) (i32.const 4))))

  ;; MurmurHash3_x86_128(memory[p, p + len), seed 0): h2 << 32 | h1.
  (func $murmur (export "murmur") (param $p i32) (param $len i32) (result i64)
    (local $h1 i32) (local $h2 i32) (local $h3 i32) (local $h4 i32)
    (local $k1 i32) (local $k2 i32) (local $k3 i32) (local $k4 i32)
    (local $blocksEnd i32) (local $tail i32)
    (local.set $blocksEnd
      (i32.add (local.get $p) (i32.and (local.get $len) (i32.const -16))))
    (block $done
      (loop $block
        (br_if $done (i32.ge_u (local.get $p) (local.get $blocksEnd)))
        (local.set $k1 (i32.load align=1 (local.get $p)))
        (local.set $k2 (i32.load offset=4 align=1 (local.get $p)))
        (local.set $k3 (i32.load offset=8 align=1 (local.get $p)))
        (local.set $k4 (i32.load offset=12 align=1 (local.get $p)))

        (local.set $h1
          (i32.xor (local.get $h1)
            (i32.mul (i32.rotl (i32.mul (local.get $k1) (i32.const 0x239b961b)) (i32.const 15))
                     (i32.const 0xab0e9789))))
        (local.set $h1 (i32.add (i32.rotl (local.get $h1) (i32.const 19)) (local.get $h2)))
        (local.set $h1 (i32.add (i32.mul (local.get $h1) (i32.const 5)) (i32.const 0x561ccd1b)))

        (local.set $h2
          (i32.xor (local.get $h2)
            (i32.mul (i32.rotl (i32.mul (local.get $k2) (i32.const 0xab0e9789)) (i32.const 16))
                     (i32.const 0x38b34ae5))))
        (local.set $h2 (i32.add (i32.rotl (local.get $h2) (i32.const 17)) (local.get $h3)))
        (local.set $h2 (i32.add (i32.mul (local.get $h2) (i32.const 5)) (i32.const 0x0bcaa747)))

        (local.set $h3
          (i32.xor (local.get $h3)
            (i32.mul (i32.rotl (i32.mul (local.get $k3) (i32.const 0x38b34ae5)) (i32.const 17))
                     (i32.const 0xa1e38b93))))
        (local.set $h3 (i32.add (i32.rotl (local.get $h3) (i32.const 15)) (local.get $h4)))
        (local.set $h3 (i32.add (i32.mul (local.get $h3) (i32.const 5)) (i32.const 0x96cd1c35)))

        (local.set $h4
          (i32.xor (local.get $h4)
            (i32.mul (i32.rotl (i32.mul (local.get $k4) (i32.const 0xa1e38b93)) (i32.const 18))
                     (i32.const 0x239b961b))))
        (local.set $h4 (i32.add (i32.rotl (local.get $h4) (i32.const 13)) (local.get $h1)))
        (local.set $h4 (i32.add (i32.mul (local.get $h4) (i32.const 5)) (i32.const 0x32ac3b17)))

        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $block)))

    ;; The tail: up to 15 bytes, read as masked words (k4 takes at most 3).
    (local.set $tail (i32.and (local.get $len) (i32.const 15)))
    (if (i32.ge_s (local.get $tail) (i32.const 13))
      (then
        (local.set $k4 (call $partialWord (i32.add (local.get $p) (i32.const 12))
                                          (i32.sub (local.get $tail) (i32.const 12))))
        (local.set $h4
          (i32.xor (local.get $h4)
            (i32.mul (i32.rotl (i32.mul (local.get $k4) (i32.const 0xa1e38b93)) (i32.const 18))
                     (i32.const 0x239b961b))))))
    (if (i32.ge_s (local.get $tail) (i32.const 9))
      (then
        (local.set $k3 (call $partialWord (i32.add (local.get $p) (i32.const 8))
                                          (call $min4 (i32.sub (local.get $tail) (i32.const 8)))))
        (local.set $h3
          (i32.xor (local.get $h3)
            (i32.mul (i32.rotl (i32.mul (local.get $k3) (i32.const 0x38b34ae5)) (i32.const 17))
                     (i32.const 0xa1e38b93))))))
    (if (i32.ge_s (local.get $tail) (i32.const 5))
      (then
        (local.set $k2 (call $partialWord (i32.add (local.get $p) (i32.const 4))
                                          (call $min4 (i32.sub (local.get $tail) (i32.const 4)))))
        (local.set $h2
          (i32.xor (local.get $h2)
            (i32.mul (i32.rotl (i32.mul (local.get $k2) (i32.const 0xab0e9789)) (i32.const 16))
                     (i32.const 0x38b34ae5))))))
    (if (i32.ge_s (local.get $tail) (i32.const 1))
      (then
        (local.set $k1 (call $partialWord (local.get $p) (call $min4 (local.get $tail))))
        (local.set $h1
          (i32.xor (local.get $h1)
            (i32.mul (i32.rotl (i32.mul (local.get $k1) (i32.const 0x239b961b)) (i32.const 15))
                     (i32.const 0xab0e9789))))))

    (local.set $h1 (i32.xor (local.get $h1) (local.get $len)))
    (local.set $h2 (i32.xor (local.get $h2) (local.get $len)))
    (local.set $h3 (i32.xor (local.get $h3) (local.get $len)))
    (local.set $h4 (i32.xor (local.get $h4) (local.get $len)))
    (local.set $h1 (i32.add (local.get $h1) (local.get $h2)))
    (local.set $h1 (i32.add (local.get $h1) (local.get $h3)))
    (local.set $h1 (i32.add (local.get $h1) (local.get $h4)))
    (local.set $h2 (i32.add (local.get $h2) (local.get $h1)))
    (local.set $h3 (i32.add (local.get $h3) (local.get $h1)))
    (local.set $h4 (i32.add (local.get $h4) (local.get $h1)))
    (local.set $h1 (call $fmix32 (local.get $h1)))
    (local.set $h2 (call $fmix32 (local.get $h2)))
    (local.set $h3 (call $fmix32 (local.get $h3)))
    (local.set $h4 (call $fmix32 (local.get $h4)))
    (local.set $h1 (i32.add (local.get $h1) (local.get $h2)))
    (local.set $h1 (i32.add (local.get $h1) (local.get $h3)))
    (local.set $h1 (i32.add (local.get $h1) (local.get $h4)))
    (local.set $h2 (i32.add (local.get $h2) (local.get $h1)))
    (i64.or
      (i64.shl (i64.extend_i32_u (local.get $h2)) (i64.const 32))
      (i64.extend_i32_u (local.get $h1))))

  ;; The first newline in memory[p, end), or `end`: 16 bytes compared at a time.
  (func $newline (param $p i32) (param $end i32) (result i32)
    (local $mask i32)
    (block $none
      (loop $scan
        (br_if $none (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $mask
          (i8x16.bitmask
            (i8x16.eq (v128.load align=1 (local.get $p)) (i8x16.splat (i32.const 0x0a)))))
        (if (local.get $mask)
          (then
            (local.set $p (i32.add (local.get $p) (i32.ctz (local.get $mask))))
            (return
              (select (local.get $p) (local.get $end) (i32.lt_u (local.get $p) (local.get $end))))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $scan)))
    (local.get $end))

  ;; Hashes every whole line in memory[start, end) and returns where the first line not hashed begins
  ;; (`end` when the region ends with a newline). With `archive` set, a line that is exactly `\.`
  ;; (COPY's end-of-data) is not hashed: the call stops after it and sets `stopped`.
  (func (export "hashLines") (param $start i32) (param $end i32) (param $archive i32) (result i32)
    (local $p i32) (local $nl i32) (local $len i32) (local $rows i32) (local $sum i64)
    (local.set $p (local.get $start))
    (global.set $stopped (i32.const 0))
    (block $out
      (loop $line
        (local.set $nl (call $newline (local.get $p) (local.get $end)))
        (br_if $out (i32.ge_u (local.get $nl) (local.get $end)))
        (local.set $len (i32.sub (local.get $nl) (local.get $p)))
        (if (i32.and
              (local.get $archive)
              (i32.and
                (i32.eq (local.get $len) (i32.const 2))
                (i32.eq (i32.load16_u align=1 (local.get $p)) (i32.const 0x2e5c))))
          (then
            (global.set $stopped (i32.const 1))
            (local.set $p (i32.add (local.get $nl) (i32.const 1)))
            (br $out)))
        (local.set $sum (i64.add (local.get $sum) (call $murmur (local.get $p) (local.get $len))))
        (local.set $rows (i32.add (local.get $rows) (i32.const 1)))
        (local.set $p (i32.add (local.get $nl) (i32.const 1)))
        (br $line)))
    (global.set $rows (local.get $rows))
    (global.set $sum (local.get $sum))
    (local.get $p))
;; The PostgreSQL protocol's messages in memory[at, end), as a server sends them during COPY TO STDOUT:
  ;; the payloads of the CopyData messages ('d') are moved together at `at`, in order (each is one row of
  ;; COPY text with its newline), and the messages a server may send between them (CopyOutResponse 'H',
  ;; ParameterStatus 'S', NoticeResponse 'N', NotificationResponse 'A') are passed over. Returns where the
  ;; first message not taken begins: one not yet whole (`stopType` 0), or one of any other type (CopyDone,
  ;; ErrorResponse, ...: `stopType` is its type) for the caller to hand back. `textEnd`: the text's end.
  (func (export "compactCopyData") (param $at i32) (param $end i32) (result i32)
    (local $dst i32) (local $type i32) (local $len i32)
    (local.set $dst (local.get $at))
    (global.set $stopType (i32.const 0))
    (block $out
      (loop $message
        (br_if $out (i32.gt_u (i32.add (local.get $at) (i32.const 5)) (local.get $end)))
        (local.set $type (i32.load8_u (local.get $at)))
        (local.set $len
          (i32.or
            (i32.or
              (i32.shl (i32.load8_u offset=1 (local.get $at)) (i32.const 24))
              (i32.shl (i32.load8_u offset=2 (local.get $at)) (i32.const 16)))
            (i32.or
              (i32.shl (i32.load8_u offset=3 (local.get $at)) (i32.const 8))
              (i32.load8_u offset=4 (local.get $at)))))
        (if (i32.or
              (i32.lt_u (local.get $len) (i32.const 4))
              (i32.eqz
                (i32.or
                  (i32.or (i32.eq (local.get $type) (i32.const 0x64))
                          (i32.eq (local.get $type) (i32.const 0x48)))
                  (i32.or (i32.eq (local.get $type) (i32.const 0x53))
                          (i32.or (i32.eq (local.get $type) (i32.const 0x4e))
                                  (i32.eq (local.get $type) (i32.const 0x41)))))))
          (then
            (global.set $stopType (local.get $type))
            (br $out)))
        ;; Whole only when its length (which counts itself, not the type) fits in what is left.
        (br_if $out
          (i32.gt_u (local.get $len) (i32.sub (i32.sub (local.get $end) (local.get $at)) (i32.const 1))))
        (if (i32.eq (local.get $type) (i32.const 0x64))
          (then
            (memory.copy
              (local.get $dst)
              (i32.add (local.get $at) (i32.const 5))
              (i32.sub (local.get $len) (i32.const 4)))
            (local.set $dst (i32.add (local.get $dst) (i32.sub (local.get $len) (i32.const 4))))))
        (local.set $at (i32.add (local.get $at) (i32.add (local.get $len) (i32.const 1))))
        (br $message)))
    (global.set $textEnd (local.get $dst))
    (local.get $at))
)
