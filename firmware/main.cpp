// bulkhead entry point: subcommand dispatch only; the application lives in firmware/app.
int main() { return 0; }
