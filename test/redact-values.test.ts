import { describe, expect, it } from 'vitest';
import { createTextMasker, isCardNumber, maskCards, maskEmails, maskJwts, scalarMasker } from '../lib/engine/redact-values.js';

describe('card numbers (Luhn)', () => {
  it('recognises Luhn-valid runs of 13 to 19 digits, with spaces or hyphens', () => {
    expect(isCardNumber('4111111111111111')).toBe(true);
    expect(isCardNumber('4111 1111 1111 1111')).toBe(true);
    expect(isCardNumber('5500-0000-0000-0004')).toBe(true);
    expect(isCardNumber('4222222222222')).toBe(true);
    expect(isCardNumber('4111111111111112')).toBe(false);
    expect(isCardNumber('411111111111')).toBe(false);
  });

  it('masks cards inside text but not other numbers or digits inside longer runs', () => {
    expect(maskCards('pay 4111 1111 1111 1111 now')).toBe('pay [REDACTED:card] now');
    expect(maskCards('order 4111111111111112 and id 12345')).toBe('order 4111111111111112 and id 12345');
    expect(maskCards('x41111111111111119999999999')).toBe('x41111111111111119999999999');
  });
});

describe('emails', () => {
  it('masks addresses found from their @, leaving what is around them', () => {
    expect(maskEmails('mail ada.lovelace+x@example.co.uk, thanks.')).toBe('mail [REDACTED:email], thanks.');
    expect(maskEmails('a@b.io and c@d.org')).toBe('[REDACTED:email] and [REDACTED:email]');
  });

  it('leaves @-mentions, bare domains and handles alone', () => {
    expect(maskEmails('@here see user@localhost or @ada')).toBe('@here see user@localhost or @ada');
  });

  it('stays linear on hostile input: a long run without a dot is scanned in bounded windows', () => {
    const hostile = `${'a'.repeat(20000)}@${'b'.repeat(20000)}`.repeat(3);
    expect(maskEmails(hostile)).toBe(hostile);
  });
});

describe('JWTs', () => {
  it('masks three base64url parts that start with a JSON header', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_-nature';
    expect(maskJwts(`Bearer ${jwt}`)).toBe('Bearer [REDACTED:jwt]');
    expect(maskJwts('notajwt eyJ only')).toBe('notajwt eyJ only');
    expect(maskJwts('xeyJa.b.c')).toBe('xeyJa.b.c');
  });
});

describe('createTextMasker and scalarMasker', () => {
  it('masks only the kinds asked for, and nothing when none is', () => {
    expect(createTextMasker([])).toBeUndefined();
    const cardsOnly = createTextMasker(['card'])!;
    expect(cardsOnly('4111111111111111 a@b.io')).toBe('[REDACTED:card] a@b.io');
    const all = createTextMasker(['card', 'email', 'jwt'])!;
    expect(all('4111111111111111 a@b.io eyJa.eyJb.c')).toBe('[REDACTED:card] [REDACTED:email] [REDACTED:jwt]');
  });

  it('masks card numbers given as JSON numbers', () => {
    const mask = scalarMasker(createTextMasker(['card'])!, ['card']);
    expect(mask(4111111111111111)).toBe('[REDACTED:card]');
    expect(mask(42)).toBe(42);
    expect(mask('4111111111111111')).toBe('[REDACTED:card]');
  });
});
