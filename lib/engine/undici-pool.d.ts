/** undici's `Pool` module on its own (dispatch.ts says why): the same class the package's index exports. */
declare module 'undici/lib/dispatcher/pool.js' {
  import { Pool } from 'undici';
  export default Pool;
}
