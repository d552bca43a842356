// The other files of this program each include one public header; there is nothing to run.
int main() { return 0; }
