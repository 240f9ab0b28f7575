import { signedInUser, type SignedInUser, type SignInProviders } from '../logic/session.ts';
import type { Connection } from './http.ts';

/** Sign-in, sign-out and "who am I" (gateway/http/api/auth-routes.ts). */
export class AuthClient {
  constructor(
    private readonly connection: Connection,
    readonly apiRoot = '/api',
  ) {}

  async providers(): Promise<SignInProviders> {
    const answer = await this.connection.json<Partial<SignInProviders>>(`${this.apiRoot}/auth/providers`, { unauthorizedIsAnswer: true });
    return { password: answer.password !== false, oidc: answer.oidc?.issuer ? { issuer: answer.oidc.issuer } : null };
  }

  /** The signed-in user, or undefined when there is no session (401). */
  async me(): Promise<SignedInUser | undefined> {
    const response = await this.connection
      .request(`${this.apiRoot}/auth/me`, { accept: 'application/json', unauthorizedIsAnswer: true })
      .catch((error: unknown) => {
        if ((error as { status?: number }).status === 401) return undefined;
        throw error;
      });
    return response && signedInUser(await response.json());
  }

  /** Starts a session: the archive sets the session cookie (HttpOnly) and the CSRF cookie. */
  async login(username: string, password: string): Promise<SignedInUser> {
    return signedInUser(await this.connection.json(`${this.apiRoot}/auth/login`, { method: 'POST', json: { username, password }, unauthorizedIsAnswer: true }));
  }

  logout(): Promise<void> {
    return this.connection.json(`${this.apiRoot}/auth/logout`, { method: 'POST', unauthorizedIsAnswer: true });
  }
}
