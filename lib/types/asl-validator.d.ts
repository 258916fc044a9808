// asl-validator ships no type declarations; this is the part of its JS API the project uses.
declare module 'asl-validator' {
  interface AslValidatorOptions {
    checkArn?: boolean;
    checkPaths?: boolean;
  }
  interface AslValidatorResult {
    isValid: boolean;
    errors: unknown[];
    errorsText(separator?: string): string;
  }
  export default function aslValidator(
    definition: unknown,
    options?: AslValidatorOptions,
  ): AslValidatorResult;
}
