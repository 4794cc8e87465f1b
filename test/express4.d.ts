// Express 4 is installed under the alias `express4` so the tests run against both majors.
declare module 'express4' {
  import express from 'express';
  export default express;
}
