/** The reference MurmurHash3 the v4 row hash is tested against (the package ships no types). */
declare module 'murmurhash3js-revisited' {
  const murmur: {
    x86: { hash128(bytes: Uint8Array, seed?: number): string };
  };
  export default murmur;
}
