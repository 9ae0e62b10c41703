"""The E-I circuit's excitatory side: subtractive and divisive inputs (``Excitatory``)."""
