"""Use cases (the seed's services): they depend on the domain and the ports only."""
