/**
 * Where the CLI sends people for details: pages of the repository, which an installed package has no copy of
 * (docs/ is not published; see .npmignore).
 */
export const REPOSITORY_URL = 'https://github.com/express-shadow/express-shadow';

/** The page of `docs/<page>` on the repository, e.g. `docsUrl('report.md')`. */
export function docsUrl(page: string): string {
  return `${REPOSITORY_URL}/blob/main/docs/${page}`;
}
