/** Exact answers in forms math-verify grades: integers, or reduced fractions as \frac{p}{q}. */

export function formatInteger(value: bigint): string {
  return value.toString();
}

function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

/** numerator/denominator reduced; an integer when the denominator divides out. */
export function formatFraction(numerator: bigint, denominator: bigint): string {
  if (denominator === 0n) throw new Error('zero denominator');
  const sign = numerator < 0n !== denominator < 0n ? -1n : 1n;
  const g = gcd(numerator, denominator);
  const p = (numerator < 0n ? -numerator : numerator) / g;
  const q = (denominator < 0n ? -denominator : denominator) / g;
  if (q === 1n) return formatInteger(sign * p);
  return `${sign < 0n ? '-' : ''}\\frac{${p}}{${q}}`;
}

/** base^exponent mod modulus by square-and-multiply, exact for any size. */
export function powMod(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n % modulus;
  let b = base % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
}
