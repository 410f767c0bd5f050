/** Every drizzle table, for the client's relational queries and for drizzle-kit. */

export { apiKeyTable } from '../api-key/api-key.sql.ts';
export { sessionTable } from '../session/session.sql.ts';
export { signInFailureTable } from '../sign-in/sign-in-failure.sql.ts';
export { userTable } from '../user/user.sql.ts';
