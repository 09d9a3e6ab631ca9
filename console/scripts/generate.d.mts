export function parseExponents(moneySource: string): Record<string, number>;
